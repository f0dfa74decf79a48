"""Which thread settings are fastest here, on an idle machine and beside two CPU-bound processes.

Usage: python benchmarks/bench_threads.py [--conditions idle,loaded] [--repeats 3] [--quick]
                                           [--out benchmarks/results/threads.json]

Two measurements, each setting in a fresh process (TensorFlow sizes its
pools once per process), in turns so that a change of the machine's load hits
every setting alike:

1. **Training step**: one optimiser step of the two-stream network (batch 8,
   64x64 inputs, the stable recipe), measured by
   :func:`mer_lib.budget.training_cost` (the median of 5 steps after the
   traced one), under :func:`mer_lib.env.bounded_threads` with TensorFlow's
   intra-op / inter-op pools set to each pair of 1, cores/2, cores (and
   inter-op 2), and with TensorFlow's own defaults (no context).
2. **Pre-processing**: phase magnification and TV-L1 of 4 SynthME clips per
   usable core (128x128, 8 frames, no cache), with 1, cores/2, cores and
   cores + 1 processes (pool start-up included).

Conditions: ``idle`` (nothing started beside: the load average before and
during is recorded, so a run on a busy machine shows it) and ``loaded`` (two
``python -c "while True: pass"`` processes run beside it, started and stopped
here). Writes the JSON file (the conditions run replace their earlier
results; the others are kept) and prints a table. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import machine  # noqa: E402


def _worker(args):
    """One measurement in this (fresh) process; prints one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from mer_lib.env import bounded_threads, tensorflow_pools, thread_settings

    if args.worker == "train":
        import contextlib

        context = contextlib.nullcontext() if args.intra == 0 else bounded_threads(
            tf_intra_op=args.intra, tf_inter_op=args.inter)
        with context:
            import keras  # noqa: F401  (TensorFlow's runtime starts in the block)

            from mer_lib.budget import training_cost
            from mer_lib.experiments import build

            rng = np.random.default_rng(0)
            n = 16
            x = {"frames": rng.normal(size=(n, 8, 64, 64, 1)).astype("float32"),
                 "flow": rng.normal(size=(n, 16, 64, 64, 1)).astype("float32")}
            labels = np.arange(n) % 3
            cost = training_cost(build("two_stream", (8, 64, 64, 1), (16, 64, 64, 1), 3, "batch"), x, labels,
                                 recipe="stable", steps=5)
        print(json.dumps({"step_s": cost.step_s, "setup_s": cost.setup_s, "tensorflow": tensorflow_pools()}))
    else:
        from mer_lib.data import synthetic_dataset
        from mer_lib.pipeline import preprocess

        cores = thread_settings().cores
        data = synthetic_dataset(seed=0, counts=(args.clips, 0, 0), n_subjects=2, progress=False)
        with bounded_threads(processes=args.processes):
            t0 = time.perf_counter()
            preprocess(data, progress=False)
            seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "per_clip_s": seconds / args.clips, "cores": cores}))


def _measure(argv, timeout):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=str(ROOT))
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return json.loads(lines[-1])


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run_condition(name, repeats, quick):
    cores = machine.usable_cores()
    pools = sorted({(i, o) for i in {1, max(1, cores // 2), cores} for o in (1, 2)}) + [(0, 0)]
    processes = sorted({1, max(1, cores // 2), cores, cores + 1})
    clips = 2 if quick else 4
    training = {p: [] for p in pools}
    preprocessing = {p: [] for p in processes}
    with machine.condition(name) as busy, machine.LoadMonitor(every=5) as load:
        for r in range(repeats):
            for intra, inter in pools:
                out = _measure(["--worker", "train", "--intra", str(intra), "--inter", str(inter)], 900)
                training[(intra, inter)].append(out["step_s"])
                print(f"[{name} {r + 1}/{repeats}] training, TensorFlow "
                      f"{'defaults' if intra == 0 else f'{intra} intra / {inter} inter'}: "
                      f"{out['step_s']:.3f} s a step", flush=True)
            for p in processes:
                out = _measure(["--worker", "preprocess", "--processes", str(p), "--clips", str(clips * cores)], 1800)
                preprocessing[p].append(out["per_clip_s"])
                print(f"[{name} {r + 1}/{repeats}] pre-processing, {p} processes: {out['per_clip_s']:.2f} s a clip",
                      flush=True)
    train_rows = [{"tf_intra_op": i or None, "tf_inter_op": o or None,
                   "setting": "TensorFlow's defaults (every core, no context)" if i == 0 else f"{i} intra / {o} inter",
                   "step_s": [round(v, 4) for v in training[(i, o)]],
                   "median_step_s": round(_median(training[(i, o)]), 4)}
                  for i, o in pools]
    pre_rows = [{"processes": p, "per_clip_s": [round(v, 3) for v in preprocessing[p]],
                 "median_per_clip_s": round(_median(preprocessing[p]), 3)} for p in processes]
    best_train = min(train_rows, key=lambda row: row["median_step_s"])
    best_pre = min(pre_rows, key=lambda row: row["median_per_clip_s"])
    return {"condition": name, "busy_processes_beside": len(busy), "load": load.summary(), "repeats": repeats,
            "clips_per_preprocessing_run": clips * cores, "training_step": train_rows, "preprocessing": pre_rows,
            "fastest": {"training": best_train["setting"], "preprocessing_processes": best_pre["processes"]},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", default="idle,loaded", help="comma-separated: idle, loaded")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each setting (median kept)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 clips a core (a check of the script)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "threads.json")
    parser.add_argument("--worker", choices=("train", "preprocess"), help=argparse.SUPPRESS)
    parser.add_argument("--intra", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--inter", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--clips", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    for c in conditions:
        if c not in ("idle", "loaded"):
            parser.error(f"--conditions: unknown condition {c!r} (idle, loaded)")
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    commit, clean = machine.git_commit(ROOT)
    for c in conditions:
        result = run_condition(c, repeats, args.quick)
        report = machine.read_json(args.out)
        report.update({"benchmark": "bench_threads.py", "machine": machine.machine(),
                       "command": " ".join(["python", "benchmarks/bench_threads.py"] + (argv or sys.argv[1:]))})
        report.setdefault("conditions", {})[c] = {**result, "commit": commit, "tree_clean": clean,
                                                  "quick": bool(args.quick)}
        machine.write_json(args.out, report)
        print(f"{c}: fastest training setting {result['fastest']['training']}; fastest pre-processing with "
              f"{result['fastest']['preprocessing_processes']} processes (written to {args.out})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
