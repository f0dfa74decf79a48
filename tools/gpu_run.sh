#!/usr/bin/env bash
# The full reproduction and the training benchmark on a lent GPU machine (Python 3.12, JAX, no
# TensorFlow and no Keras there; see the project's GPU notes). Two steps:
#
#   bash tools/gpu_run.sh prepare        # here, with network: the pure-Python wheels into .whl/ (ignored by git)
#   bash tools/gpu_run.sh run            # there, in the repository root, carrying .whl/: writes under $OUT
#
# `run` installs the wheels to /tmp/site, then runs `mer reproduce --all` on SynthME (several runs at
# once on the one GPU) and `bench_training.py --part speed`, and copies the results folder (CSV, JSON,
# PNG only) to $OUT/full. Extra arguments after `run` go to `mer reproduce` (e.g. --repeats 3).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare)
    rm -rf .whl && mkdir .whl
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl keras namex optree
    ls .whl ;;
  run)
    shift
    : "${OUT:?set OUT to the folder that comes back}"
    python3 -m pip install --quiet --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
    nvidia-smi -L || true
    start=$(date +%s)
    python3 -m mer_lib.cli reproduce --all --dataset synth --out /tmp/mer-full "$@" 2>&1 | tail -40
    echo "reproduction wall time: $(( $(date +%s) - start )) s"
    mkdir -p "$OUT/full"
    (cd /tmp/mer-full/results && find . -type f \( -name '*.csv' -o -name '*.json' -o -name '*.png' \) \
        -size -1M -exec cp --parents {} "$OUT/full/" \;)
    python3 benchmarks/bench_training.py --part speed --out "$OUT/bench" 2>&1 | tail -30 ;;
  *)
    echo "usage: bash tools/gpu_run.sh prepare|run [mer reproduce options]" >&2; exit 2 ;;
esac
