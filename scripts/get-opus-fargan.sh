#!/usr/bin/env bash
# Fetch and build the Opus 1.5.2 sources (Debian trixie source package `opus`, BSD-3-Clause)
# for FARGAN: `dump_data` (LPCNet feature extraction), `fargan_demo` (reference synthesis) and
# `dnn/fargan_data.c` (the FARGAN weights as C arrays, converted by scripts/fargan_weights.py).
#
# Usage: scripts/get-opus-fargan.sh [DEST]     (DEST defaults to ~/.cache/focal/opus)
# Env:   JOBS (make -j, default 1), NICE (niceness, default 10), NO_BUILD=1 (fetch + unpack only),
#        PLAIN_C=1 (also build DEST/plain-c/opus-1.5.2/fargan_demo with Opus's scalar C kernels, no
#        SSE/AVX: the sample-exact reference for FARGAN.set_opus_arithmetic, see docs/fargan.md)
#
# The system's apt configuration is untouched: a private apt directory under DEST holds a trixie
# deb-src list, its package lists and the downloaded files. Rerunning skips steps already done.
# Exit codes: 0 done, 1 a step failed (the failing command's output says which).
set -euo pipefail

DEST="${1:-$HOME/.cache/focal/opus}"
JOBS="${JOBS:-1}"
NICE="${NICE:-10}"
VERSION="1.5.2"
SRC="$DEST/opus-$VERSION"
APTDIR="$DEST/apt"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"

mkdir -p "$DEST"
if [ ! -f "$SRC/dnn/fargan_data.c" ]; then
    mkdir -p "$APTDIR/etc/sources.list.d" "$APTDIR/etc/preferences.d" "$APTDIR/state/lists/partial" \
        "$APTDIR/cache/archives/partial"
    cat > "$APTDIR/etc/sources.list" <<LIST
deb-src [signed-by=$KEYRING] http://deb.debian.org/debian trixie main
LIST
    touch "$APTDIR/state/status"
    APT_OPTS=(
        -o "Dir::Etc::sourcelist=$APTDIR/etc/sources.list"
        -o "Dir::Etc::sourceparts=$APTDIR/etc/sources.list.d"
        -o "Dir::Etc::preferencesparts=$APTDIR/etc/preferences.d"
        -o "Dir::State=$APTDIR/state"
        -o "Dir::State::status=$APTDIR/state/status"
        -o "Dir::Cache=$APTDIR/cache"
        -o "APT::Sandbox::User=root"
    )
    apt-get "${APT_OPTS[@]}" update
    (cd "$DEST" && apt-get "${APT_OPTS[@]}" source --download-only opus)
    ORIG=$(ls "$DEST"/opus_"$VERSION".orig.tar.* 2>/dev/null | head -n 1 || true)
    [ -n "$ORIG" ] || { echo "error: trixie no longer ships opus $VERSION (see $DEST)" >&2; exit 1; }
    tar -C "$DEST" -xf "$ORIG"
    test -f "$SRC/dnn/fargan_data.c" || { echo "error: $ORIG has no dnn/fargan_data.c" >&2; exit 1; }
fi

[ "${NO_BUILD:-0}" = "1" ] && { echo "sources: $SRC"; exit 0; }

cd "$SRC"
if [ ! -f Makefile ]; then
    ./configure --enable-dred --enable-osce --enable-deep-plc --disable-doc
fi
nice -n "$NICE" make -j"$JOBS" dump_data fargan_demo
for tool in dump_data fargan_demo; do
    test -x "$SRC/$tool" || { echo "error: $SRC/$tool was not built" >&2; exit 1; }
done
echo "built: $SRC/dump_data $SRC/fargan_demo"

if [ "${PLAIN_C:-0}" = "1" ]; then
    PLAIN="$DEST/plain-c/opus-$VERSION"
    if [ ! -f "$PLAIN/Makefile" ]; then
        rm -rf "$DEST/plain-c" && mkdir -p "$DEST/plain-c"
        tar -C "$DEST/plain-c" -xf "$(ls "$DEST"/opus_"$VERSION".orig.tar.* | head -n 1)"
        # dnn/vec.h picks its SSE/AVX kernels whenever __SSE2__ is defined (always on x86-64);
        # this copy takes the scalar branch instead.
        sed -i 's|^#if defined(__AVX__) \|\| defined(__SSE2__)$|#if 0 /* plain C reference */|' \
            "$PLAIN/dnn/vec.h"
        grep -q "plain C reference" "$PLAIN/dnn/vec.h" || { echo "error: vec.h patch failed" >&2; exit 1; }
        (cd "$PLAIN" && ./configure --enable-dred --enable-osce --enable-deep-plc --disable-doc \
            --disable-rtcd --disable-intrinsics)
    fi
    (cd "$PLAIN" && nice -n "$NICE" make -j"$JOBS" fargan_demo)
    echo "built: $PLAIN/fargan_demo"
fi
