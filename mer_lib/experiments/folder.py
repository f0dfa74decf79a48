"""Reading a results folder: its provenance, its schema and plan, its settings against the library's, where it is.

:func:`validate_results` holds after every command that writes a folder: the
files of :data:`RESULTS_FILES` are there, the provenance has every field of
:data:`PROVENANCE_FIELDS`, and the records in ``runs/`` are exactly the folds
of the plan the provenance records (none missing, none of another plan).
:func:`set_aside_partial` takes a folder back to its last summarised plan
when a command that extended it was stopped.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np

from mer_lib._io import atomic_write_text, make_folder
from mer_lib.errors import UserInputError
from mer_lib.experiments.folds import library_defaults
from mer_lib.experiments.plan import (check_records, compare_plans, models_of, plan_from_provenance, plan_jobs,
                                      read_records, show_model)
from mer_lib.experiments.results import _read_provenance
from mer_lib.experiments.rows import FULL_ROWS, model_variants, unique_rows
from mer_lib.pipeline import INPUT_SETTINGS

__all__ = ["RESULTS_FILES", "PROVENANCE_FIELDS", "provenance", "validate_results", "current_settings",
           "settings_differences", "describe_provenance", "locate_results", "set_aside_partial",
           "check_results_data"]

#: Files of a results folder written by :func:`mer_lib.experiments.reproduce` (folders end with "/").
RESULTS_FILES = ("provenance.json", "runs.csv", "tables.csv", "table3.csv", "table4.csv", "comparisons.csv",
                 "comparison_runs.csv", "findings.csv", "collapses.csv", "recipe_choices.csv", "predictions.csv",
                 "histories.csv", "confusion.csv", "curves/", "confusion/", "runs/")
#: Fields of ``provenance.json``.
PROVENANCE_FIELDS = ("commit", "tree_clean", "library_version", "keras_version", "keras_backend", "backend_version",
                     "numpy_version", "python_version", "platform", "device", "date", "wall_seconds", "command",
                     "dataset", "rows", "recipes", "protocols", "repeats", "loso_seeds", "loso_rows", "loso_recipes",
                     "n_folds", "seeds",
                     "epochs", "batch_size", "input_settings", "workers", "runs")


def provenance(**extra):
    """Where and how a result was made: the code (git commit, clean tree), the software and the device.

    Parameters
    ----------
    **extra
        Further fields (the experiment's settings).

    Returns
    -------
    dict
        ``commit`` (the environment variable ``MER_COMMIT`` when set: the
        commit a tree was copied from, as ``tools/gpu_run.sh`` sets it;
        otherwise git's, None outside a checkout), ``tree_clean``
        (``MER_TREE_CLEAN=1`` with ``MER_COMMIT``; git's otherwise),
        library, Keras, backend, NumPy and Python versions, ``platform``,
        ``device``, ``date`` (UTC, ISO 8601), and ``extra``.
    """
    import mer_lib
    from mer_lib.env import gpu_names, keras_backend, package_version

    root = Path(mer_lib.__file__).resolve().parent.parent
    if os.environ.get("MER_COMMIT"):
        # a tree copied from a checkout (the GPU machine): the commit recorded where it was copied wins over
        # whatever .git the copy may sit in (one such machine had a stale .git of an older commit)
        commit, clean = os.environ["MER_COMMIT"], os.environ.get("MER_TREE_CLEAN") == "1"
    else:
        commit, clean = _git_state(root)
    backend = keras_backend()           # neither is imported for this: a parent of worker processes has neither
    gpus = gpu_names()
    info = {"commit": commit, "tree_clean": clean, "library_version": mer_lib.__version__,
            "keras_version": package_version("keras"), "keras_backend": backend,
            "backend_version": package_version(backend),
            "numpy_version": np.__version__, "python_version": platform.python_version(),
            "platform": platform.platform(), "device": f"GPU: {', '.join(gpus)}" if gpus else "CPU",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    info.update(extra)
    return info


def _git_state(root):
    """(commit, clean) of the checkout at ``root``; (None, None) outside one or without git."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20)
        return out.stdout.strip(), status.returncode == 0 and not status.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None


def read_settings(out):
    """The plan a folder's ``settings.json`` holds (None when there is none); a broken one is a one-line error."""
    path = Path(out) / "settings.json"
    if not path.exists():
        return None
    try:
        settings = json.loads(path.read_text())
        if not isinstance(settings, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path} is not valid JSON ({err}); delete it (and the folder's runs/ if they are not "
                             "of the plan you ask for) to start the folder again") from None
    return settings


def validate_results(out):
    """Check a results folder against the schema and its plan; raise a one-line error naming what is wrong.

    Parameters
    ----------
    out : str or Path

    Returns
    -------
    dict
        The provenance.

    Raises
    ------
    UserInputError
        A missing file or field, a broken ``provenance.json``, tables that do
        not count the runs, a record missing or of no fold of the recorded
        plan, or a ``settings.json`` of another plan (an extension started and
        not finished: run its command again, or :func:`set_aside_partial`).
    """
    import pandas as pd

    out = Path(out)
    if not out.is_dir():
        raise UserInputError(f"{out} is not a results folder")
    for name in RESULTS_FILES:
        path = out / name.rstrip("/")
        if name.endswith("/"):
            if not path.is_dir() or not any(path.iterdir()):
                raise UserInputError(f"{out}: the folder {name} is missing or empty")
        elif not path.is_file():
            raise UserInputError(f"{out}: the file {name} is missing")
    prov = _read_provenance(out)
    missing = [f for f in PROVENANCE_FIELDS if f not in prov]
    if missing:
        raise UserInputError(f"{out / 'provenance.json'} lacks the fields {', '.join(missing)}")
    tables = pd.read_csv(out / "tables.csv")
    need = {"row", "recipe", "protocol", "runs"} | {f"{m}_{s}" for m in ("accuracy", "uf1", "uar")
                                                     for s in ("mean", "sd", "ci_low", "ci_high")}
    if need - set(tables.columns):
        raise UserInputError(f"{out / 'tables.csv'} lacks the columns {', '.join(sorted(need - set(tables.columns)))}")
    runs = pd.read_csv(out / "runs.csv")
    if len(runs) != int(tables["runs"].sum()):
        raise UserInputError(f"{out}: runs.csv has {len(runs)} runs, tables.csv counts {int(tables['runs'].sum())}")
    plan = plan_from_provenance(prov)
    jobs = plan_jobs(plan)
    records = read_records(out)
    if len(records) != int(prov["runs"]):
        raise UserInputError(f"{out}: {len(records)} run records, the provenance says {prov['runs']}")
    check_records(out, plan, jobs, records)
    absent = [j.job_id for j in jobs if j.job_id not in records]
    if absent or len(jobs) != int(prov["runs"]):
        raise UserInputError(f"{out}: the plan in provenance.json has {len(jobs)} folds, {len(absent)} without a "
                             f"record (first: {absent[0] if absent else '-'})")
    if len(runs) != len({j.run_id for j in jobs}):
        raise UserInputError(f"{out}: runs.csv has {len(runs)} runs, the plan {len({j.run_id for j in jobs})}")
    settings = read_settings(out)
    if settings is not None:
        kind, why = compare_plans(plan, {**plan, **settings})
        if kind == "extends":
            raise UserInputError(f"{out}: settings.json holds a larger plan than the results (an extension was "
                                 "started and not finished): run its command again, or set its records aside "
                                 "(mer_lib.experiments.set_aside_partial)")
        if kind == "differs":
            raise UserInputError(f"{out}: settings.json and provenance.json describe other plans ({why})")
    return prov


def set_aside_partial(out, dest):
    """Take a results folder back to the plan it last summarised: move every other record to ``dest``.

    For a command that extended a folder and was stopped (a time limit on a
    lent GPU): the records of the unfinished extension are moved out (not
    deleted), and ``settings.json`` is the summarised plan again. A folder
    that was never summarised loses every record and its ``settings.json``.
    Afterwards :func:`validate_results` holds (or the folder has no results).

    Parameters
    ----------
    out : str or Path
        The results folder.
    dest : str or Path
        Where the records go (created).

    Returns
    -------
    list of str
        The names of the records moved.
    """
    out, dest = Path(out), Path(dest)
    records = read_records(out)
    if (out / "provenance.json").exists():
        plan = plan_from_provenance(_read_provenance(out))
        keep = {j.job_id for j in plan_jobs(plan)}
    else:
        plan, keep = None, set()
    moved = sorted(name for name in records if name not in keep)
    if moved:
        make_folder(dest)
    for name in moved:
        shutil.move(str(out / "runs" / f"{name}.json"), str(dest / f"{name}.json"))
    if plan is None:
        (out / "settings.json").unlink(missing_ok=True)
    else:
        settings = read_settings(out) or {}
        atomic_write_text(out / "settings.json", json.dumps({**settings, **plan}, indent=1))
    return moved


def current_settings(recipes=None):
    """The experiment settings this version of the library uses (to compare with a results folder's).

    Parameters
    ----------
    recipes : sequence of str, optional
        The recipes to describe (default: every recipe in
        :data:`mer_lib.train.RECIPES`).

    Returns
    -------
    dict
        ``recipes`` (name to its fields), ``input_settings`` (flow input to
        magnifier and alpha, :data:`mer_lib.pipeline.INPUT_SETTINGS`),
        ``epochs`` and ``batch_size`` (the defaults of
        :func:`mer_lib.train.train`, the paper's 100 and 8), ``rows`` (the
        keys of :data:`FULL_ROWS`), ``models`` (what the builders of those
        rows' models are given, :func:`mer_lib.experiments.model_variants`).
    """
    from mer_lib.experiments.controls import PLAN_ROWS
    from mer_lib.train import CONTROL_RECIPES, RECIPES

    known = {**RECIPES, **CONTROL_RECIPES}
    names = list(known) if recipes is None else list(recipes)
    rows = unique_rows(FULL_ROWS + PLAN_ROWS)
    return {"recipes": {n: known[n].as_dict() for n in names if n in known},
            "input_settings": {k: list(v) for k, v in INPUT_SETTINGS.items()},
            **library_defaults(), "rows": [r.key for r in rows], "models": model_variants(rows)}


def settings_differences(prov):
    """How a results folder's settings differ from the ones the current library would use.

    Parameters
    ----------
    prov : dict
        A results folder's provenance (:func:`validate_results`).

    Returns
    -------
    list of str
        One line per difference ("recipe 'stable': learning_rate was 0.001,
        now 0.0003"); empty when the folder is what the library would
        produce now. Rows or recipes the folder did not run are not
        differences (a folder may hold a subset), nor is a recipe field added
        since the folder was made whose value now is its default, the
        behaviour the field was added to name (``precision`` "auto"). A
        model of the folder's rows built otherwise now is one ("model
        'cnn_rnn': was inputs=frames (not recorded: ...), now
        inputs=onset_relative").
    """
    from mer_lib.train import Recipe

    defaults = {f.name: f.default for f in dataclasses.fields(Recipe)}
    now = current_settings()
    diffs = []
    for name, fields in (prov.get("recipes") or {}).items():
        if name not in now["recipes"]:
            diffs.append(f"recipe {name!r} no longer exists")
            continue
        for key in sorted(set(fields) | set(now["recipes"][name])):
            was, is_ = fields.get(key, "(absent)"), now["recipes"][name].get(key, "(absent)")
            if key not in fields and is_ == defaults.get(key, "(no default)"):
                continue            # a field added later, at the behaviour it names
            if was != is_:
                diffs.append(f"recipe {name!r}: {key} was {was!r}, now {is_!r}")
    for kind, value in (prov.get("input_settings") or {}).items():
        if list(value) != now["input_settings"].get(kind):
            diffs.append(f"input {kind!r}: (magnifier, alpha) was {tuple(value)}, now "
                         f"{tuple(now['input_settings'].get(kind) or ('absent',))}")
    for key in ("epochs", "batch_size"):
        if prov.get(key) != now[key]:
            diffs.append(f"{key} was {prov.get(key)!r}, the paper's and the library's is {now[key]!r}")
    for model in sorted(models_of([key for key in prov.get("rows") or [] if key in now["rows"]])):
        was, is_ = (prov.get("models") or {}).get(model), now["models"].get(model)
        if was != is_:
            diffs.append(f"model {model!r}: was {show_model(was, model)}, now {show_model(is_, model)}")
    gone = [r for r in prov.get("rows") or [] if r not in now["rows"]]
    if gone:
        diffs.append(f"rows no longer in the library's plan: {', '.join(gone)}")
    return diffs


def describe_provenance(prov):
    """A few lines saying where a results folder comes from: commit, device, date, wall time, command.

    Parameters
    ----------
    prov : dict
        A results folder's provenance.

    Returns
    -------
    str
    """
    wall = float(prov.get("wall_seconds") or 0.0)
    commit = prov.get("commit") or "unknown"
    clean = {True: "clean tree", False: "uncommitted changes", None: "tree state unknown"}[prov.get("tree_clean")]
    lines = [f"device:   {prov.get('device')} ({prov.get('keras_backend')} {prov.get('backend_version')}, "
             f"Keras {prov.get('keras_version')}, Python {prov.get('python_version')})",
             f"code:     mer_lib {prov.get('library_version')} at commit {commit[:12]} ({clean})",
             f"date:     {prov.get('date')}",
             f"work:     {prov.get('runs')} training folds, {prov.get('workers')} at once, "
             f"wall time {wall / 60:.1f} min",
             f"command:  {prov.get('command')}"]
    return "\n".join(lines)


def locate_results(name="full"):
    """Find a committed results folder (``book/results/<name>`` of the repository).

    Looks, in order, at the folder named by the environment variable
    ``MER_RESULTS``, then ``results/<name>`` and ``book/results/<name>`` under
    the working directory, then ``book/results/<name>`` beside the installed
    library (a clone installed with ``pip install -e``).

    Parameters
    ----------
    name : str
        The folder's name under ``book/results``.

    Returns
    -------
    pathlib.Path or None
        None when no such folder is found.

    Raises
    ------
    UserInputError
        When ``MER_RESULTS`` names a folder that does not exist.
    """
    import mer_lib

    env = os.environ.get("MER_RESULTS")
    if env:
        if not Path(env).is_dir():
            raise UserInputError(f"MER_RESULTS={env!r} is not a folder; expected a results folder of `mer reproduce`")
        return Path(env)
    here = Path.cwd()
    for candidate in (here / "results" / name, here / "book" / "results" / name,
                      Path(mer_lib.__file__).resolve().parent.parent / "book" / "results" / name):
        if candidate.is_dir():
            return candidate
    return None


def check_results_data(out, inputs, labels, subjects=None, fingerprint=None):
    """Are a results folder's data the data loaded here? What a chapter prints before it shows the folder.

    Parameters
    ----------
    out : str or Path
        A results folder (``settings.json`` and ``provenance.json``).
    inputs : dict of str to ndarray
        Arrays loaded here under the folder's names: ``frames`` and
        ``flow_<kind>`` (all of the folder's inputs or some).
    labels, subjects : array_like, shape (N,)
    fingerprint : str, optional
        :func:`mer_lib.train.data_fingerprint` of all the folder's inputs
        loaded here, when they all were.

    Returns
    -------
    status : str
        As :func:`mer_lib.fingerprint.check_folder_data`: "identical",
        "agrees", "differs", "other data" or "unknown".
    sentence : str
        Says which, and why when it cannot be told.
    """
    from mer_lib.fingerprint import check_folder_data

    out = Path(out)
    record = {}
    for name in ("provenance.json", "settings.json"):
        try:
            record.update(json.loads((out / name).read_text()))
        except (OSError, ValueError):
            pass
    return check_folder_data(record, inputs, labels, subjects, fingerprint)
