"""What the benchmarks record about the machine and its load, and the CPU-bound processes they run beside.

Imported by ``bench_threads.py`` and ``bench_book.py`` (run from the
repository root as ``python benchmarks/bench_*.py``; this file is no
benchmark itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

#: The code of one CPU-bound process run beside a benchmark ("loaded" condition).
BUSY_CODE = "while True: pass"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_model():
    """The CPU's model name (Linux: /proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """Cores (usable and in the machine), the CPU's model, memory, the system, Python."""
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    return {"usable_cores": usable_cores(), "machine_cores": os.cpu_count(), "cpu_model": cpu_model(),
            "memory_gib": memory, "system": platform.platform(), "python": sys.version.split()[0],
            "hostname": platform.node()}


def git_commit(root):
    """(commit, whether the work tree is clean) of a git work tree, or (None, None)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit, not dirty
    except (OSError, subprocess.CalledProcessError):
        return None, None


def load_average():
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


class LoadMonitor:
    """Samples the 1-minute load average every ``every`` seconds while it runs (a thread)."""

    def __init__(self, every=10.0):
        self.every = every
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            value = load_average()
            if value is not None:
                self.samples.append(value[0])
            self._stop.wait(self.every)

    def __enter__(self):
        self.before = load_average()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        s = self.samples
        return {"load_before": self.before, "load_1min_mean": round(sum(s) / len(s), 2) if s else None,
                "load_1min_max": max(s) if s else None, "samples": len(s)}


@contextlib.contextmanager
def busy_processes(n):
    """Run ``n`` CPU-bound Python processes (``while True: pass``) for the duration; stop them after.

    Only the processes started here are stopped, by their id.
    """
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_CODE], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def condition(name):
    """The load condition by name: ``idle`` (nothing started beside) or ``loaded`` (two CPU-bound processes)."""
    if name == "idle":
        return contextlib.nullcontext([])
    if name == "loaded":
        return busy_processes(2)
    raise ValueError(f"unknown condition {name!r}: idle or loaded")


def write_json(path, data):
    """Write JSON atomically (a temporary file, then a rename): an interrupted run leaves the previous file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def read_json(path):
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path} is not valid JSON ({err}); move it away to start again") from None
