#!/usr/bin/env bash
# The full reproduction on a lent GPU machine (Python 3.12, JAX, no TensorFlow and no Keras there;
# see the project's GPU notes). Two steps:
#
#   bash tools/gpu_run.sh prepare   # here, with network and a clean committed tree: the pure-Python
#                                   # wheels into .whl/ (ignored by git) and the commit in .whl/COMMIT
#   bash tools/gpu_run.sh run       # there, in the repository root, carrying .whl/: writes under $OUT
#
# `run` installs the wheels to /tmp/site and runs `mer reproduce` on SynthME in stages, most
# important first, each under the time left before MER_GPU_SECONDS (default 500) have passed:
#   A  the paper's split, 2 repeats, every row, both recipes
#   B  A + leave-one-subject-out for the rows of LOSO_ROWS, the stable recipe
#   C  B + three more repeats under the paper's split (5 in all)
# A stage that runs out of time is dropped whole: its finished folds go to $OUT/partial/, not into
# the results, which are then the last finished stage's (tables, figures and provenance). The results folder
# (CSV, JSON, PNG) comes back as $OUT/full.tgz. With `.gpu_seed/runs/` in the tree (the run records
# of an earlier call, carried), the finished folds of each stage's plan found there are not trained
# again (`mer reproduce --reuse`, which checks each record's settings, data and seeds).
set -euo pipefail
cd "$(dirname "$0")/.."
LOSO_ROWS="two_stream-pbvm,frames_stream-frames,one_stream-frames,cnn_rnn-frames"
case "${1:-}" in
  prepare)
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
      echo "gpu_run.sh prepare: commit your changes first (the results record the commit)" >&2; exit 2
    fi
    # .whl/ is this script's own folder: it deletes it only when it holds nothing but what it wrote there
    if [ -d .whl ] && [ -n "$(find .whl -mindepth 1 ! -name '*.whl' ! -name COMMIT -print -quit)" ]; then
      echo "gpu_run.sh prepare: .whl/ holds files this script did not write; move them away first" >&2; exit 2
    fi
    rm -rf .whl && mkdir .whl
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl keras namex optree
    git rev-parse HEAD > .whl/COMMIT
    ls .whl ;;
  run)
    shift
    : "${OUT:?set OUT to the folder that comes back}"
    start=$(date +%s)
    deadline=$(( start + ${MER_GPU_SECONDS:-500} ))
    PY=${PYTHON:-python3}
    # MER_SKIP_WHEELS=1: Keras is already importable (a rehearsal on a CPU machine)
    [ "${MER_SKIP_WHEELS:-0}" = 1 ] || $PY -m pip install --quiet --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
    export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
    export MER_COMMIT="$(cat .whl/COMMIT 2>/dev/null || git rev-parse HEAD)" MER_TREE_CLEAN=1
    nvidia-smi -L || true
    work=/tmp/mer-full
    runs="$work/results/runs"
    mkdir -p "$runs" "$OUT"
    reuse=()
    if [ -d .gpu_seed/runs ]; then reuse=(--reuse .gpu_seed/runs); fi
    common=(--all --dataset synth --out "$work" --recipe both --loso-rows "$LOSO_ROWS" --loso-recipe stable
            --workers "${MER_GPU_WORKERS:-12}" "${reuse[@]}" "$@")
    stage() {   # stage NAME ARGS...: 0 when it finished before the deadline
      local name=$1; shift
      local left=$(( deadline - $(date +%s) ))
      if [ "$left" -lt 30 ]; then echo "stage $name: no time left"; return 1; fi
      echo "== stage $name ($left s left): $*"
      local t0; t0=$(date +%s)
      if timeout -k 20 -s INT "$left" $PY -m mer_lib.cli reproduce "${common[@]}" "$@" > "$OUT/stage-$name.log" 2>&1
      then echo "stage $name done in $(( $(date +%s) - t0 )) s"; tail -3 "$OUT/stage-$name.log"; return 0
      else echo "stage $name stopped after $(( $(date +%s) - t0 )) s"; tail -5 "$OUT/stage-$name.log"; return 1
      fi
    }
    # each stage's plan contains the one before, so a finished stage leaves a complete results folder
    a=0; b=0; c=0
    stage A --protocol paper --repeats 2 && a=1
    if [ $a = 1 ]; then stage B --protocol both --repeats 2 && b=1; fi
    if [ $b = 1 ]; then stage C --protocol both --repeats 5 && c=1; fi
    # the records of a stage that did not finish are set aside, not reported: the library moves every
    # record outside the plan the folder last summarised (that of the last finished stage) to partial/
    if [ -d "$runs" ]; then $PY tools/summarize_results.py "$work/results" --set-aside "$OUT/partial"; fi
    echo "stages A B C finished: $a $b $c; wall time $(( $(date +%s) - start )) s"
    # one archive: the tool that brings $OUT back limits the number of files
    if [ -f "$work/results/provenance.json" ]; then
      tar czf "$OUT/full.tgz" -C "$work/results" --exclude=./checkpoints --exclude=./inputs.npz .
    fi
    if [ $(( deadline + 60 - $(date +%s) )) -gt 60 ]; then
      timeout -k 10 $(( deadline + 60 - $(date +%s) )) \
          $PY benchmarks/bench_training.py --part speed --out "$OUT/bench" 2>&1 | tail -30 || true
    fi ;;
  *)
    echo "usage: bash tools/gpu_run.sh prepare|run [mer reproduce options]" >&2; exit 2 ;;
esac
