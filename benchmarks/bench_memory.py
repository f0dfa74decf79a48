"""Memory over a plan: the peak resident memory of `mer reproduce` at two numbers of trainings.

Usage: python benchmarks/bench_memory.py [--plan NAME ...] [--backend tensorflow|jax]
                                         [--trainings-per-process N] [--out benchmarks/results] [--note TEXT]

Each plan is one `mer reproduce --dataset synth --fast` command (10 clips of
SynthME, one epoch per training), run in a fresh child process with its own
results folder, on the CPU, one training at a time:

- ``small``: Table 3's rows (the CNN-RNN, the one-stream and the two-stream
  network), both recipes, the paper's split, 3 repeats: 18 trainings;
- ``large``: the same with 13 repeats: 78 trainings (the issue's "20 and 80");
- ``all`` (not measured by default: it takes long on a 2-core machine):
  ``--all``, everything ``--fast`` plans (every row and control, both recipes,
  the nested choice, leave-one-subject-out in 3 folds).

The command trains in a worker process that a fresh one replaces after
``--trainings-per-process`` trainings (the command's default, 10, unless
given), because TensorFlow's runtime keeps part of every training it ran until
its process ends. The memory measured is therefore that of the whole process
tree: the command and its workers, their resident memory summed, sampled twice
a second (with the number of records the results folder holds, so the JSON
also says what the tree held after 1, 2, ... trainings); its peak is the
figure compared. The kernel's ``ru_maxrss`` of the command (the largest single
process of the tree) is recorded beside it.

The target (issue 21): the peak does not grow with the number of trainings
(within 10% between the two plans). Writes ``memory-<backend>.json`` and
``.md`` under --out. Not a timed test; on a shared machine only the memory
figures mean something.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The plans: extra arguments of `mer reproduce --dataset synth --fast --workers 1`.
PLANS = {
    "small": ["--table", "3", "--recipe", "both", "--protocol", "paper", "--repeats", "3"],
    "large": ["--table", "3", "--recipe", "both", "--protocol", "paper", "--repeats", "13"],
    "all": ["--all"],
}
#: The plans measured when none is named.
DEFAULT_PLANS = ("small", "large")


def _rss(pid):
    """Resident memory of a process in bytes (0 when it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss(pid):
    """Resident memory of a process and of all its descendants, summed, in bytes."""
    children = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo.extend(children.get(p, []))
    return total


def _results_name(extra):
    """The folder `mer reproduce` writes its results to under --out."""
    return "results" if "--all" in extra else f"table{extra[extra.index('--table') + 1]}"


def measure(name, extra, backend, workdir, per_process=None):
    """Run one plan in a child process; its peak resident memory, trainings, wall time and samples."""
    out = Path(workdir) / name
    cmd = [sys.executable, "-m", "mer_lib.cli", "reproduce", "--dataset", "synth", "--fast",
           "--out", str(out), "--workers", "1"] + extra
    if per_process is not None:
        cmd += ["--trainings-per-process", str(per_process)]
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(
               [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    if backend == "jax":
        env.setdefault("JAX_THREEFRY_PARTITIONABLE", "false")
    log = open(out.with_suffix(".log"), "w")
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    samples, stop = [], threading.Event()

    def sample():
        runs = out / _results_name(extra) / "runs"
        while not stop.is_set():
            done = len(list(runs.glob("*.json"))) if runs.is_dir() else 0
            samples.append((round(time.perf_counter() - t0, 1), done, _tree_rss(child.pid)))
            stop.wait(0.5)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    watcher.join()
    log.close()
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        tail = out.with_suffix(".log").read_text().strip().splitlines()[-5:]
        raise SystemExit(f"bench_memory: plan {name!r} failed (exit {child.returncode}): " + " | ".join(tail))
    prov = json.loads((out / _results_name(extra) / "provenance.json").read_text())
    # the resident memory after k trainings: the last sample taken while the folder held k records
    after = {}
    for _, done, rss in samples:
        if rss:
            after[done] = rss
    return {"arguments": ["mer"] + cmd[3:],
            "trainings": int(prov["runs"]), "peak_rss_bytes": max(rss for _, _, rss in samples),
            "peak_rss_of_one_process_bytes": int(usage.ru_maxrss) * 1024,
            "wall_seconds": round(wall, 1),
            "rss_after_trainings": {str(k): v for k, v in sorted(after.items())},
            "trainer": prov.get("trainer"), "epochs": prov.get("epochs")}


def _markdown(report):
    lines = [f"# Peak memory of `mer reproduce` ({report['backend']} backend, CPU)", "",
             "| plan | trainings | peak resident memory (process tree) | largest one process | wall time |",
             "|---|---|---|---|---|"]
    for name, p in report["plans"].items():
        lines.append(f"| {name} | {p['trainings']} | {p['peak_rss_bytes'] / 2**30:.2f} GiB | "
                     f"{p['peak_rss_of_one_process_bytes'] / 2**30:.2f} GiB | {p['wall_seconds']:.0f} s |")
    lines += ["", f"Growth of the peak from the smallest plan to the largest: {report['growth']:+.1%} "
              f"(target: within 10%; {'met' if report['flat'] else 'not met'}).",
              "Reference (issue 21): before the trainings released their memory, `mer reproduce --all "
              "--dataset synth --fast` (80 trainings) peaked at 10.4 GiB on a CPU, about 180 MB kept per "
              "training.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="append", choices=sorted(PLANS), default=None,
                        help="the plans to measure (repeatable; default: small and large)")
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax"),
                        help="Keras' backend of the child (tensorflow: Keras' fit; jax: the batched trainer)")
    parser.add_argument("--trainings-per-process", type=int, default=None, metavar="N",
                        help="passed to mer reproduce (default: the command's own default)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--note", default=None, help="a remark recorded in the provenance")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from mer_lib.experiments import provenance

    started = provenance(command=" ".join(["python"] + sys.argv))
    plans = args.plan or list(DEFAULT_PLANS)
    report = {"backend": args.backend, "plans": {}}
    with tempfile.TemporaryDirectory(prefix="bench_memory-") as workdir:
        for name in plans:
            print(f"plan {name}: running ...", flush=True)
            report["plans"][name] = measure(name, PLANS[name], args.backend, workdir, args.trainings_per_process)
            p = report["plans"][name]
            print(f"plan {name}: {p['trainings']} trainings, peak {p['peak_rss_bytes'] / 2**30:.2f} GiB, "
                  f"{p['wall_seconds']:.0f} s", flush=True)
    peaks = sorted(report["plans"].values(), key=lambda p: p["trainings"])
    report["growth"] = peaks[-1]["peak_rss_bytes"] / peaks[0]["peak_rss_bytes"] - 1
    report["flat"] = abs(report["growth"]) <= 0.10
    if args.note:
        started["note"] = args.note
    report["provenance"] = started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"memory-{args.backend}.json").write_text(json.dumps(report, indent=1))
    md = _markdown(report) + "\n## Provenance\n\n```json\n" + json.dumps(started, indent=1) + "\n```\n"
    (out / f"memory-{args.backend}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
