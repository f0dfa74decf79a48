"""How long `make book` takes cold, on an idle machine and beside two CPU-bound processes, chapter by chapter.

Usage: python benchmarks/bench_book.py [--commit REV] [--conditions idle,loaded] [--venv PATH]
                                        [--chapters 00_intro,03_horn_schunck] [--work DIR] [--force] [--keep]
                                        [--out benchmarks/results/book-build.json]

For each load condition it:

1. clones this repository afresh at the commit (``git clone`` + checkout: no
   ``_build/`` and so no jupyter-cache, no ``.mer_cache``: a cold build);
2. uses a virtual environment made beforehand (``--venv``, by default this
   repository's ``.venv`` when ``make venv`` made it), or makes one in the work
   folder the first time (``python -m venv`` and ``pip install '<clone>[all]'``:
   the packages ``make venv`` installs, with pip alone) and reuses it; the clone's own ``mer_lib`` comes first on
   ``PYTHONPATH``; the results say which;
3. runs what ``make book`` runs, ``python -m compileall -q mer_lib tools
   tests`` then ``MER_BOOK_BUILD=1 jupyter-book build . --warningiserror
   --keep-going``, in the clone (the total counts both), with ``MER_CELL_TIMES`` set
   so that the build records every cell's time (``tools/mer_build.py``), and
   with nothing started beside it (``idle``) or two ``python -c "while True:
   pass"`` processes (``loaded``);
4. writes ``benchmarks/results/book-build.json`` (atomically, after each
   condition): per chapter its execution time as jupyter-cache recorded it
   (``_build/.jupyter_cache``; for a chapter that failed, the sum of its cells'
   times) and its slowest cell against the cell timeout; the total wall time;
   the exit status; whether the HTML was written; the machine (cores, CPU
   model); the load average before and during the build; the commit; the
   venv. Targets (issue 20): at most 20 minutes idle and 30 minutes loaded,
   exit 0, no cell above a third of the cell timeout.

Resumable per condition: a condition already in the results file for the same
commit and chapters is skipped (``--force`` runs it again). ``--chapters``
builds a subset of the book (a check of this script; such a run is marked
``"complete_book": false``). The clone is removed afterwards unless
``--keep``; the build's log and the cells' times stay in the work folder
(default: a folder under the system's temporary directory).

The definitive runs: on the final commit, on an idle machine, one command
(after ``make venv``; about an hour for both conditions):

    .venv/bin/python benchmarks/bench_book.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import machine  # noqa: E402

#: The issue's targets for a cold build on 2 cores, in seconds, and the largest share of the cell timeout a
#: cell may take.
TARGETS_S = {"idle": 20 * 60, "loaded": 30 * 60}
CELL_SHARE = 1 / 3
#: Packages whose versions the results record.
PACKAGES = ("jupyter-book", "myst-nb", "nbclient", "jupyter-cache", "tensorflow", "keras", "numpy", "scipy",
            "opencv-contrib-python")

#: Run in the venv after a build: per notebook, jupyter-cache's execution time.
_CACHE_SCRIPT = """
import json, sys
from jupyter_cache import get_cache
out = {}
cache = get_cache(sys.argv[1])
for record in cache.list_cache_records():
    out[record.uri] = record.data.get("execution_seconds")
for record in cache.list_project_records():
    out.setdefault(record.uri, None)
print(json.dumps(out))
"""


def _run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def _chapters_of(clone):
    """The chapter stems of the clone's table of contents, in order."""
    return re.findall(r"book/(\d\d_\w+)", (clone / "_toc.yml").read_text())


def _write_toc(clone, chapters):
    lines = ["format: jb-book", f"root: book/{chapters[0]}"]
    if len(chapters) > 1:
        lines += ["chapters:"] + [f"- file: book/{c}" for c in chapters[1:]]
    (clone / "_toc.yml").write_text("\n".join(lines) + "\n")


def _cell_timeout(clone):
    match = re.search(r"^\s*timeout:\s*(\d+)", (clone / "_config.yml").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _venv(args, work, clone):
    """The venv's path and what the results say about it; makes one the first time when none is given."""
    if args.venv is None and (ROOT / ".venv" / "bin" / "jupyter-book").exists():
        args.venv = str(ROOT / ".venv")         # the one `make venv` made: made beforehand, reused
    if args.venv:
        path = Path(args.venv).resolve()
        made = f"made beforehand ({'--venv' if path != (ROOT / '.venv').resolve() else 'make venv'}), reused"
    else:
        path = work / "venv"
        if not (path / ".installed").exists():
            print(f"making the venv {path} (python -m venv; pip install '<clone>[all]')", flush=True)
            _run([sys.executable, "-m", "venv", str(path)])
            pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
            _run(pip + ["--upgrade", "pip"])
            _run(pip + [f"{clone}[all]"])
            (path / ".installed").write_text(time.strftime("%Y-%m-%d %H:%M:%S %z"))
            made = "made by this run (before the build; not counted in its time)"
        else:
            made = f"made by an earlier run of this script ({(path / '.installed').read_text().strip()}), reused"
    python = path / "bin" / "python"
    if not (path / "bin" / "jupyter-book").exists():
        raise SystemExit(f"--venv: {path} has no bin/jupyter-book: expected a venv with the book's packages "
                         "(make venv, or pip install -e '.[all]')")
    versions = {}
    listed = json.loads(_run([str(python), "-m", "pip", "list", "--format", "json"]).stdout)
    for item in listed:
        if item["name"].lower() in PACKAGES:
            versions[item["name"].lower()] = item["version"]
    py = _run([str(python), "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()
    return path, {"path": str(path), "how": made, "python": py, "packages": versions}


#: What `make book` compiles before building (the Makefile's `compiled` target).
COMPILED = ("mer_lib", "tools", "tests")


def _build(clone, venv, log_path, cells_path, timeout_s):
    """Run the build in the clone; return (exit status, wall seconds, timed out)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MER_FAST", "MER_CACHE", "MER_BUDGET_SCALE",
                                                            "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MER_BOOK_BUILD="1", PYTHONPATH=str(clone), VIRTUAL_ENV=str(venv),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", MER_CELL_TIMES=str(cells_path))
    cmd = [str(venv / "bin" / "jupyter-book"), "build", ".", "--warningiserror", "--keep-going"]
    t0 = time.monotonic()
    timed_out = False
    with open(log_path, "w", encoding="utf-8") as log:
        # make book's first step (its `compiled` target): the bytecode of the clone's sources, timed with the build
        subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", *COMPILED], cwd=clone, env=env,
                       check=True)
        log.write(f"# {' '.join(cmd)}  (cwd {clone}; MER_BOOK_BUILD=1)\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            for line in proc.stdout:
                log.write(f"[{time.monotonic() - t0:8.1f}] {line}")
                log.flush()
                if time.monotonic() - t0 > timeout_s:
                    raise TimeoutError
            proc.wait()
        except (TimeoutError, KeyboardInterrupt) as err:
            timed_out = isinstance(err, TimeoutError)
            os.killpg(proc.pid, signal.SIGTERM)        # the build and its kernels: the group this run started
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if not timed_out:
                raise
    return proc.returncode, time.monotonic() - t0, timed_out


def _per_chapter(clone, venv, cells_path, chapters, timeout):
    """Each chapter's time (jupyter-cache's, else the sum of its cells'), its slowest cell and its status."""
    cache_dir = clone / "_build" / ".jupyter_cache"
    recorded = {}
    if cache_dir.exists():
        out = subprocess.run([str(venv / "bin" / "python"), "-c", _CACHE_SCRIPT, str(cache_dir)],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            recorded = {Path(uri).stem: seconds for uri, seconds in json.loads(out.stdout).items()}
    cells = {}
    if cells_path.exists():
        for line in cells_path.read_text().splitlines():
            record = json.loads(line)
            stem = Path(record["notebook"]).stem if record.get("notebook") else None
            cells.setdefault(stem, []).append(record)
    rows = []
    for stem in chapters:
        mine = cells.get(stem, [])
        slowest = max(mine, key=lambda r: r["seconds"], default=None)
        seconds = recorded.get(stem)
        rows.append({
            "chapter": stem,
            "seconds": round(seconds, 1) if seconds is not None else (round(sum(r["seconds"] for r in mine), 1)
                                                                       if mine else None),
            "seconds_from": "jupyter-cache" if seconds is not None else ("cells" if mine else None),
            "executed": stem in recorded or bool(mine),
            "succeeded": seconds is not None,
            "cells": len(mine),
            "slowest_cell": None if slowest is None else {k: slowest[k] for k in ("cell", "first_line", "seconds",
                                                                                   "error")},
            "cells_over_a_third_of_the_timeout": [] if timeout is None else [
                {k: r[k] for k in ("cell", "first_line", "seconds")} for r in mine
                if r["seconds"] > CELL_SHARE * timeout],
            "errors": [{k: r[k] for k in ("cell", "first_line", "error")} for r in mine if r["error"]],
        })
    return rows


def run_condition(name, args, commit, work, chapters_asked):
    clone = work / f"clone-{name}"
    if clone.exists():
        shutil.rmtree(clone)
    print(f"[{name}] cloning {ROOT} at {commit[:12]} into {clone}", flush=True)
    _run(["git", "clone", "--quiet", "--no-hardlinks", "--no-checkout", str(ROOT), str(clone)])
    try:
        _run(["git", "-C", str(clone), "checkout", "--quiet", "--detach", commit])
    except subprocess.CalledProcessError:
        raise SystemExit(f"--commit: {commit[:12]} is on no branch of {ROOT}, so a clone does not have it") from None
    chapters = _chapters_of(clone)
    if chapters_asked:
        unknown = [c for c in chapters_asked if c not in chapters]
        if unknown:
            raise SystemExit(f"--chapters: {unknown[0]!r} is not a chapter of {commit[:12]} "
                             f"(its chapters: {', '.join(chapters)})")
        chapters = [c for c in chapters if c in chapters_asked]
        _write_toc(clone, chapters)
    venv, venv_info = _venv(args, work, clone)
    timeout = _cell_timeout(clone)
    log_path, cells_path = work / f"build-{name}.log", work / f"cells-{name}.jsonl"
    cells_path.unlink(missing_ok=True)
    print(f"[{name}] building {len(chapters)} chapters (log: {log_path})", flush=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    with machine.condition(name) as busy, machine.LoadMonitor(every=10) as load:
        status, wall, timed_out = _build(clone, venv, log_path, cells_path, args.timeout)
    rows = _per_chapter(clone, venv, cells_path, chapters, timeout)
    html = (clone / "_build" / "html" / "index.html").exists()
    over = [{"chapter": r["chapter"], **c} for r in rows for c in r["cells_over_a_third_of_the_timeout"]]
    complete = not chapters_asked
    result = {
        "condition": name, "busy_processes_beside": len(busy), "commit": commit, "chapters": chapters,
        "complete_book": complete, "exit_status": status, "timed_out": timed_out, "html_written": html,
        "total_s": round(wall, 1), "total_min": round(wall / 60, 1),
        "target_s": TARGETS_S[name] if complete else None,
        "within_target": (status == 0 and wall <= TARGETS_S[name] and not over) if complete else None,
        "cell_timeout_s": timeout, "cells_over_a_third_of_the_timeout": over,
        "per_chapter": rows, "load": load.summary(), "machine": machine.machine(), "venv": venv_info,
        "cold": "fresh clone: no _build/ (jupyter-cache), no .mer_cache; MER_FAST, MER_CACHE unset",
        "command": ("python -m compileall -q mer_lib tools tests; MER_BOOK_BUILD=1 jupyter-book build . "
                    "--warningiserror --keep-going (what `make book` runs)"),
        "started": started, "log": str(log_path), "cell_times": str(cells_path),
    }
    if not args.keep:
        shutil.rmtree(clone, ignore_errors=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="HEAD", help="the commit to build (default: HEAD of this repository)")
    parser.add_argument("--conditions", default="idle,loaded", help="comma-separated: idle, loaded")
    parser.add_argument("--venv", help="a venv with the book's packages, made beforehand (default: this "
                                       "repository's .venv when `make venv` made it, else one made in the work "
                                       "folder the first time and reused)")
    parser.add_argument("--chapters", help="comma-separated chapter stems: build only these (a check of the script)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mer-bench-book",
                        help="work folder: clones, the made venv, logs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "book-build.json")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds before a build is stopped")
    parser.add_argument("--force", action="store_true", help="run a condition again even if the results have it")
    parser.add_argument("--keep", action="store_true", help="keep the clones (and their _build/)")
    args = parser.parse_args(argv)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    for c in conditions:
        if c not in TARGETS_S:
            parser.error(f"--conditions: unknown condition {c!r} (idle, loaded)")
    try:
        commit = _run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.commit}^{{commit}}"]).stdout.strip()
    except subprocess.CalledProcessError:
        parser.error(f"--commit: {args.commit!r} is not a commit of {ROOT}")
    chapters_asked = [c.strip() for c in args.chapters.split(",") if c.strip()] if args.chapters else None
    args.work.mkdir(parents=True, exist_ok=True)
    for name in conditions:
        report = machine.read_json(args.out)
        done = report.get("runs", {}).get(name)
        same_chapters = done and (set(done.get("chapters", [])) == set(chapters_asked) if chapters_asked
                                  else done.get("complete_book"))
        if done and same_chapters and done.get("commit") == commit and not args.force:
            print(f"[{name}] already in {args.out} for {commit[:12]} (exit {done.get('exit_status')}, "
                  f"{done.get('total_min')} min): skipped (--force runs it again)", flush=True)
            continue
        result = run_condition(name, args, commit, args.work, chapters_asked)
        report = machine.read_json(args.out)
        report.update({"benchmark": "bench_book.py", "targets_s": TARGETS_S,
                       "cell_share_limit": round(CELL_SHARE, 3)})
        report.setdefault("runs", {})[name] = result
        machine.write_json(args.out, report)
        print(f"[{name}] exit {result['exit_status']} in {result['total_min']} min"
              + (f" (target {TARGETS_S[name] / 60:.0f} min: {'met' if result['within_target'] else 'MISSED'})"
                 if result["complete_book"] else " (a subset of the chapters)"), flush=True)
        for row in result["per_chapter"]:
            cell = row["slowest_cell"]
            print(f"    {row['chapter']:36s} {row['seconds'] if row['seconds'] is not None else '-':>8} s"
                  + (f"   slowest cell {cell['seconds']:.0f} s: {cell['first_line'][:50]}" if cell else ""),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
