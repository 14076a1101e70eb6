#!/usr/bin/env bash
# The main job: trains two rectified flows on data that ships with genmod and
# writes pictures of their samples.
#   1. a class-conditional rectified flow (U-Net) on the embedded Fashion-MNIST
#      subset, sampled with classifier-free guidance: one row per class;
#   2. a rectified flow (MLP) on the 2D moons, data and samples side by side.
# Outputs go to $DEMO_DIR (default runs/demo); earlier demo runs there are replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/genmod}
OUT=${DEMO_DIR:-runs/demo}
FM_STEPS=${FM_STEPS:-500}
FM_BATCH=${FM_BATCH:-32}
MOONS_STEPS=${MOONS_STEPS:-1000}
mkdir -p "$OUT"
rm -rf "$OUT/moons" "$OUT/fashion"
start=$SECONDS

echo "== 1/2: rectified flow on moons ($MOONS_STEPS steps)"
$BIN train --model rf --data moons --steps "$MOONS_STEPS" --batch 256 --lr 2e-3 --out "$OUT/moons"
$BIN sample --run "$OUT/moons" --n 2000 --steps 50 --out "$OUT/moons.png" --force

echo "== 2/2: class-conditional rectified flow on fashion-mnist-mini ($FM_STEPS steps)"
$BIN train --model rf --data fashion-mnist-mini --steps "$FM_STEPS" --batch "$FM_BATCH" --lr 2e-3 \
  --label-dropout 0.1 --out "$OUT/fashion"
$BIN sample --run "$OUT/fashion" --n 100 --steps 20 --cfg 2 --out "$OUT/fashion.png" --force

echo
echo "demo finished in $((SECONDS - start)) s:"
echo "  $OUT/fashion.png   samples, one row per class (guidance w=2)"
echo "  $OUT/moons.png     moons: data and samples"
echo "  runs: $OUT/fashion, $OUT/moons (loss.png, metrics.jsonl, checkpoints/, samples/)"
