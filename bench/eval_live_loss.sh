#!/usr/bin/env bash
# Quality of `focal stream | focal play` under simulated packet loss (PESQ-WB, STOI, dWER).
#
#   bench/eval_live_loss.sh [MODEL] [FILES] [LOSS_MODEL]
#
# MODEL: model for FOCAL_MODEL (default: the bundled one); FILES: dev files to score (default
# 15); LOSS_MODEL: random or bursty. Uses ../shared/eval (set up with ../shared/eval/setup.sh).
# Each loss rate in 0 5 10 20 % is scored against the reference speech, and 5..20 % also against
# the lossless decode (the degradation due to loss alone). Tables: $OUT/ev/table.md and
# $OUT/ev-vs-lossless/table.md (OUT defaults to ./live-loss-eval).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EVAL=${EVAL:-$ROOT/../shared/eval}
PY=${PY:-$EVAL/.venv-eval/bin/python}
DATA=${DATA:-$ROOT/../shared/data/speech}
OUT=${OUT:-$PWD/live-loss-eval}
MODEL=${1:-${FOCAL_MODEL:-}}
LIMIT=${2:-15}
LOSS_MODEL=${3:-random}
FOCAL=${FOCAL:-"$(command -v python3) -m focalcli"}
export FOCAL_THREADS=1
[ -n "$MODEL" ] && export FOCAL_MODEL=$MODEL

mkdir -p "$OUT/dev"
awk -F'\t' '$2=="dev"{print $1}' "$DATA/manifest.tsv" | while read -r f; do
  cp -n "$DATA/$f" "$OUT/dev/" 2>/dev/null || true
done
cd "$OUT"
for L in 0 5 10 20; do
  "$PY" "$EVAL/eval_codec.py" --ref-dir dev --name "focal-live-$LOSS_MODEL-loss$L" \
    --work-dir "w/loss$L" --bits-ext fcs --limit "$LIMIT" --metrics pesq_wb,stoi,dwer \
    --cmd "$FOCAL stream -q -i {in} -o {bits} -f && $FOCAL play -q {bits} -o {out} -f \
           --simulate-loss $L --loss-model $LOSS_MODEL --seed 1" \
    --out-dir ev --summary-md ev/table.md >/dev/null
done
for L in 5 10 20; do
  "$PY" "$EVAL/eval_codec.py" --ref-dir w/loss0/dec --dec-dir "w/loss$L/dec" \
    --name "vs-lossless-$LOSS_MODEL-$L" --metrics pesq_wb,stoi --kbps 0 \
    --out-dir ev-vs-lossless --summary-md ev-vs-lossless/table.md >/dev/null
done
cat ev/table.md ev-vs-lossless/table.md
