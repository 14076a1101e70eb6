#!/usr/bin/env bash
# Side-by-side training and sampling speed of genmod against PyTorch 1.13
# (Debian's python3-torch), run by `make bench` after it built bin/genmod.
# Prints a markdown report (see bench/compare.py); takes about 32 minutes on a
# quiet 2-core machine (training rows ~20, of which the two GAN rows ~9;
# sampling ~11; BENCH_SAMPLE_ROUNDS=0 skips sampling), a few minutes with
# BENCH_QUICK=1.
#
# PyTorch and BLAS: Debian's python3-torch does its matrix products through
# the system libblas.so.3, which on a plain install is libblas3, the netlib
# reference BLAS (~3 GFLOP/s here, against ~170 for OpenBLAS). Comparing
# against that would flatter genmod, so the PyTorch side gets OpenBLAS
# (Debian's libopenblas0-openmp, whose threads follow torch.set_num_threads):
#   1. the system's, if the libblas.so.3 alternative already is OpenBLAS;
#   2. else an installed libopenblas0-{openmp,pthread}, by LD_LIBRARY_PATH;
#   3. else the package unpacked into bench/.cache/ (fetched once with
#      `apt-get download`; nothing is installed system-wide).
# If none can be had, the run goes on with the reference BLAS and says so.
# The stock configuration is also timed once, for context.
#
# Environment: BENCH_CONFIGS (run only these rows, comma-separated: rf-mlp,
# rf-unet, rf-mlp-fm, dit, realnvp-mlp, glow, vae-mlp, iwae-mlp, dcgan,
# wgan-gp, sampling; e.g. BENCH_CONFIGS=realnvp-mlp,glow bench/run.sh for the
# two flow rows, ~5 min; BENCH_CONFIGS=vae-mlp,iwae-mlp for the VAE rows;
# BENCH_CONFIGS=dcgan,wgan-gp for the GAN rows, ~9 min, their PyTorch side
# in bench/torch_gan.py),
# BENCH_ROUNDS (2), BENCH_SAMPLE_ROUNDS (1), BENCH_QUICK=1 (smoke
# test: few steps, no waiting for quiet), BENCH_QUIET_WAIT (60 s),
# BENCH_SOFT_LIMIT (1200 s), GENMOD (bin/genmod), BENCH_NO_FETCH=1 (never run
# apt-get download).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "bench: PyTorch is not importable by $PY; install Debian's python3-torch (apt-get install -y python3-torch)" >&2
	exit 1
fi
GENMOD=${GENMOD:-bin/genmod}
if [ ! -x "$GENMOD" ]; then
	echo "bench: $GENMOD is missing: run 'make build' (or 'make bench')" >&2
	exit 1
fi
export GENMOD

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
current=$(readlink -f "/usr/lib/$multiarch/libblas.so.3" 2>/dev/null || true)
blasdir=""
case "$current" in
*openblas*) PEER_BLAS="system OpenBLAS ($current)" ;;
*)
	for d in "/usr/lib/$multiarch/openblas-openmp" "/usr/lib/$multiarch/openblas-pthread" \
		"bench/.cache/openblas/usr/lib/$multiarch/openblas-openmp"; do
		if [ -e "$d/libblas.so.3" ]; then
			blasdir=$d
			break
		fi
	done
	if [ -z "$blasdir" ] && [ "${BENCH_NO_FETCH:-}" != 1 ] && command -v apt-get >/dev/null; then
		echo "bench: fetching Debian's libopenblas0-openmp into bench/.cache (not installed system-wide)" >&2
		mkdir -p bench/.cache
		if (cd bench/.cache && rm -f libopenblas0-openmp_*.deb && apt-get download "libopenblas0-openmp:$arch" >/dev/null 2>&1) &&
			dpkg-deb -x bench/.cache/libopenblas0-openmp_*.deb bench/.cache/openblas; then
			blasdir="bench/.cache/openblas/usr/lib/$multiarch/openblas-openmp"
		else
			echo "bench: could not fetch libopenblas0-openmp (try 'apt-get update' first)" >&2
		fi
	fi
	if [ -n "$blasdir" ]; then
		blasdir=$(cd "$blasdir" && pwd)
		export BENCH_REF_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
		export LD_LIBRARY_PATH="$blasdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
		PEER_BLAS="OpenBLAS 0.3 (Debian libopenblas0, OpenMP build) given to PyTorch by LD_LIBRARY_PATH=$blasdir; the system libblas.so.3 is $current"
	else
		PEER_BLAS="the system libblas.so.3 = $current, NOT an optimized BLAS: PyTorch's matmuls are slowed down, the ratios flatter genmod"
		echo "bench: WARNING: $PEER_BLAS" >&2
	fi
	;;
esac
export BENCH_PEER_BLAS="$PEER_BLAS"

exec "$PY" bench/compare.py
