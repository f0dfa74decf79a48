#!/usr/bin/env bash
# The full plan and the speed benchmark on a lent GPU machine, in one slot (Python 3.12, JAX, no TensorFlow
# and no Keras there; see the project's GPU notes). Two steps:
#
#   bash tools/gpu_run.sh prepare   # here, with network and a clean committed tree: the pure-Python
#                                   # wheels into .whl/ (ignored by git) and the commit in .whl/COMMIT
#   bash tools/gpu_run.sh run       # there, in the repository root, carrying .whl/: writes under $OUT
#
# `run` installs the wheels to /tmp/site and, with Keras on JAX (where `train` is the batched trainer,
# mer_lib.batched), runs under one deadline (MER_GPU_SECONDS, default 720: a 15-minute slot less the
# machine's start):
#   1. the plan of `mer reproduce --all` (on SynthME: on JAX it trains through the batched trainer, the
#      folds of one architecture many at once in one compiled program) in stages, most important first,
#      each extending the folder of the one before and leaving a complete results folder:
#        A2, A5  every row, every recipe and the nested choice, the paper's split with 2, then 5 seeds
#        A       the same with 10 seeds
#        B       A + true leave-one-subject-out (one fold per subject), 1 seed
#      (2,000 trainings in all, 680 of them in A: the command prints the count of each stage's plan. Nobody
#      has timed the batched trainer on a GPU, so the small stages make sure that a slot slower than hoped
#      still brings back a folder of repeated runs.)
#      A stage that runs out of time is dropped whole: its finished folds go to $OUT/partial/, not into
#      the results, which are then the last finished stage's (the library sets aside every record outside
#      the plan the folder last summarised). The folder comes back as $OUT/full.tgz.
#   2. the speed benchmark (benchmarks/bench_training.py --part speed: Keras' fit one run at a time, the
#      multi-process path, the batched trainer at N = 1, 4, 16, 64, the plan's wall time with each path,
#      the physical limit), given MER_BENCH_SECONDS (default 240) kept back from the deadline for it:
#      $OUT/bench/speed-gpu.{json,md}.
# With `.gpu_seed/runs/` in the tree (the run records of an earlier call, carried), the finished folds of
# each stage's plan found there are not trained again (`mer reproduce --reuse`, which checks each record's
# settings, data and seeds).
#
# A rehearsal on a CPU machine: MER_FAST=1 MER_SKIP_WHEELS=1 PYTHON=.venv/bin/python OUT=/tmp/out \
#   bash tools/gpu_run.sh run   (a tiny plan on the fast SynthME: Table 3's rows, one epoch; the
#   benchmark's quick settings). MER_SKIP_BENCH=1 leaves the benchmark out.
set -euo pipefail
cd "$(dirname "$0")/.."
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
    # MER_WHEEL_DOWNLOAD: another command that puts the wheels into the folder it is given (the tests' stand-in)
    ${MER_WHEEL_DOWNLOAD:-python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any keras namex optree -d} .whl
    for wheel in keras namex optree; do
      ls .whl/"$wheel"-*.whl > /dev/null 2>&1 || { echo "gpu_run.sh prepare: no $wheel wheel in .whl/" >&2; exit 1; }
    done
    git rev-parse HEAD > .whl/COMMIT
    ls .whl ;;
  run)
    shift
    : "${OUT:?set OUT to the folder that comes back}"
    start=$(date +%s)
    deadline=$(( start + ${MER_GPU_SECONDS:-720} ))
    bench_seconds=${MER_BENCH_SECONDS:-240}
    PY=${PYTHON:-python3}
    # MER_SKIP_WHEELS=1: Keras is already importable (a rehearsal on a CPU machine)
    [ "${MER_SKIP_WHEELS:-0}" = 1 ] || $PY -m pip install --quiet --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
    export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
    export MER_COMMIT="$(cat .whl/COMMIT 2>/dev/null || git rev-parse HEAD)" MER_TREE_CLEAN=1
    # JAX's default random-bit generator (partitionable Threefry) compiled the dropout of these networks' 5-D
    # tensors in ~50 s per draw on a CPU (against ~3 s); not measured on a GPU, so the slot does not bet on it
    export JAX_THREEFRY_PARTITIONABLE=${JAX_THREEFRY_PARTITIONABLE:-false}
    nvidia-smi -L || echo "no GPU: a rehearsal"
    work=/tmp/mer-full-$$
    mkdir -p "$work" "$OUT"
    reuse=()
    if [ -d .gpu_seed/runs ]; then reuse=(--reuse .gpu_seed/runs); fi
    if [ "${MER_FAST:-0}" = 1 ]; then      # a rehearsal: the fast SynthME, one epoch, a few rows and folds
      plan=(--table 3 --dataset synth --fast --out "$work" --recipe both --epochs 1 --workers 1)
      results="$work/table3"
      seeds_small=(2) ; seeds_a=(--repeats 3) ; seeds_b=(--repeats 3 --loso-seeds 1 --folds 2)
      bench=(--settings quick --model two_stream --note "MER_FAST=1 rehearsal")
    else
      plan=(--all --dataset synth --out "$work" --recipe both --workers "${MER_GPU_WORKERS:-1}")
      results="$work/results"
      seeds_small=(2 5) ; seeds_a=(--repeats 10) ; seeds_b=(--repeats 10 --loso-seeds 1)
      bench=(--settings gpu --note "tools/gpu_run.sh, after the plan")
    fi
    stage() {   # stage NAME ARGS...: 0 when it finished before the deadline less the benchmark's share
      local name=$1; shift
      local left=$(( deadline - bench_seconds - $(date +%s) ))
      if [ "$left" -lt 30 ]; then echo "stage $name: no time left"; return 1; fi
      echo "== stage $name ($left s left): $*"
      local t0; t0=$(date +%s)
      if timeout -k 20 -s INT "$left" $PY -m mer_lib.cli reproduce "${plan[@]}" "${reuse[@]}" "$@" \
          > "$OUT/stage-$name.log" 2>&1
      then echo "stage $name done in $(( $(date +%s) - t0 )) s"; tail -3 "$OUT/stage-$name.log"; return 0
      else echo "stage $name stopped after $(( $(date +%s) - t0 )) s"; tail -5 "$OUT/stage-$name.log"; return 1
      fi
    }
    # each stage's plan contains the one before, so a finished stage leaves a complete results folder
    a=0; b=0; small=""; go=1
    for n in "${seeds_small[@]}"; do
      if stage "A$n" --protocol paper --repeats "$n" "$@"; then small="$small A$n"; else go=0; break; fi
    done
    if [ $go = 1 ]; then stage A --protocol paper "${seeds_a[@]}" "$@" && a=1; fi
    if [ $a = 1 ]; then stage B --protocol both "${seeds_b[@]}" "$@" && b=1; fi
    # the records of a stage that did not finish are set aside, not reported: the library moves every
    # record outside the plan the folder last summarised (that of the last finished stage) to partial/
    if [ -d "$results/runs" ]; then $PY tools/summarize_results.py "$results" --set-aside "$OUT/partial"; fi
    echo "stages finished:${small:- none of the small ones}; A $a, B $b; plan wall time $(( $(date +%s) - start )) s"
    # one archive: the tool that brings $OUT back limits the number of files
    if [ -f "$results/provenance.json" ]; then
      tar czf "$OUT/full.tgz" -C "$results" --exclude=./checkpoints --exclude=./inputs.npz .
    fi
    left=$(( deadline - $(date +%s) ))
    if [ "${MER_SKIP_BENCH:-0}" = 1 ]; then
      echo "the speed benchmark left out (MER_SKIP_BENCH=1)"
    elif [ "$left" -gt 60 ]; then
      echo "== speed benchmark ($left s left)"
      timeout -k 10 "$left" $PY benchmarks/bench_training.py --part speed --out "$OUT/bench" \
          --budget $(( left - 30 )) "${bench[@]}" > "$OUT/bench.log" 2>&1 || echo "the benchmark stopped early"
      tail -25 "$OUT/bench.log"
    else
      echo "no time left for the speed benchmark"
    fi
    echo "wall time $(( $(date +%s) - start )) s" ;;
  *)
    echo "usage: bash tools/gpu_run.sh prepare|run [mer reproduce options]" >&2; exit 2 ;;
esac
