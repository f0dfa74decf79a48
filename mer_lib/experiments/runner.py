"""The full reproduction: every row, recipe, protocol and repeat as jobs, run several at once, into a results folder."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_lib.experiments.folder import provenance
from mer_lib.experiments.folds import _folds, _train_fold
from mer_lib.experiments.nested import NESTED, choose_recipe
from mer_lib.experiments.results import summarize_results
from mer_lib.experiments.rows import FULL_ROWS, MODELS, Row
from mer_lib.pipeline import INPUT_SETTINGS

__all__ = ["reproduce"]


@dataclass(frozen=True)
class _Job:
    row: Row
    recipe: str
    protocol: str
    repeat: int
    fold: int
    n_folds: int
    seed: int
    split_seed: int
    subject_folds: int | None = None

    @property
    def run_id(self):
        return f"{self.row.key}__{self.recipe}__{self.protocol}__r{self.repeat}"

    @property
    def job_id(self):
        return f"{self.run_id}__f{self.fold}"


def _jobs(rows, recipes, protocols, repeats, loso_seeds, labels, subjects, n_folds, loso_rows=None,
          loso_recipes=None, recipe_rows=None, nested=None):
    """Every fold of every run; a nested-choice job (recipe :data:`NESTED`) per fold of a row that runs every
    recipe of the ``nested`` grid under that protocol."""
    jobs = []
    for protocol in protocols:
        n_runs = repeats if protocol == "paper" else loso_seeds
        for r in range(n_runs):
            subject_folds = n_folds if protocol == "loso" else None
            folds = _folds(protocol, labels, subjects, r, subject_folds)
            for row in rows:
                if protocol == "loso" and loso_rows is not None and row.key not in loso_rows:
                    continue
                names = [recipe for recipe in recipes
                         if not (protocol == "loso" and loso_recipes is not None and recipe not in loso_recipes)
                         and (recipe_rows is None or recipe not in recipe_rows or row.key in recipe_rows[recipe])]
                if nested and set(nested) <= set(names):
                    names.append(NESTED)
                for recipe in names:
                    for k in range(len(folds)):
                        jobs.append(_Job(row, recipe, protocol, r, k, len(folds), seed=1000 * r + k, split_seed=r,
                                         subject_folds=subject_folds))
    return jobs


_WORKER_DATA: dict = {}


def _worker_init():
    # several processes share one GPU: neither TensorFlow nor JAX may take its memory up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load_inputs(path):
    if path not in _WORKER_DATA:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        flows = {k[len("flow_"):]: v for k, v in arrays.items() if k.startswith("flow_")}
        _WORKER_DATA.clear()
        _WORKER_DATA[path] = (arrays["frames"], flows, arrays["labels"], arrays["subjects"])
    return _WORKER_DATA[path]


def _run_job(job, inputs_path, out, epochs, batch_size, n_classes, nested=None):
    """Train one fold of one run (or choose its recipe, for a nested job) and write its record to
    runs/<job_id>.json (atomically)."""
    from mer_lib._io import atomic_write_text

    frames, flows, labels, subjects = _load_inputs(str(inputs_path))
    folds = _folds(job.protocol, labels, subjects, job.split_seed, job.subject_folds)
    train_idx, test_idx = folds[job.fold]
    ckpt = Path(out) / "checkpoints" / job.job_id
    if job.recipe == NESTED:          # the training side only: the test side is not passed
        t0 = time.perf_counter()
        choice = choose_recipe(job.row, frames, flows, labels, subjects, train_idx, grid=nested, epochs=epochs,
                               batch_size=batch_size, seed=job.seed, n_classes=n_classes, checkpoint_dir=ckpt)
        from mer_lib.env import gpu_names

        gpus = gpu_names()
        record = {"nested": choice, "test_index": [int(i) for i in test_idx], "warnings": [],
                  "device": f"GPU: {', '.join(gpus)}" if gpus else "CPU", "seconds": time.perf_counter() - t0,
                  "epochs": epochs}
    else:
        record = _train_fold(job.row, job.recipe, frames, flows, labels, subjects, train_idx, test_idx,
                             epochs=epochs, batch_size=batch_size, seed=job.seed, n_classes=n_classes,
                             checkpoint_dir=ckpt, verbose=0, protocol=job.protocol)
    record.update({"job": job.job_id, "run": job.run_id, "row": job.row.label, "row_key": job.row.key,
                   "model": job.row.model, "input": job.row.flow_input or "frames", "control": job.row.control,
                   "recipe": job.recipe, "protocol": job.protocol, "repeat": job.repeat, "fold": job.fold,
                   "n_folds": job.n_folds, "seed": job.seed, "split_seed": job.split_seed})
    atomic_write_text(Path(out) / "runs" / f"{job.job_id}.json", json.dumps(record))
    shutil.rmtree(ckpt, ignore_errors=True)       # the record is what resuming needs now
    return job.job_id


def reproduce(out, frames, flows, labels, subjects, *, rows=FULL_ROWS, recipes=("paper", "stable"),
              protocols=("paper", "loso"), repeats=5, loso_seeds=1, n_folds=None, epochs=100, batch_size=8,
              n_classes=3, class_names=None, workers="auto", dataset=None, command=None, progress=True,
              loso_rows=None, loso_recipes=None, recipe_rows=None, nested=None):
    """Run rows x recipes x protocols x repeats, several at once, and write a results folder.

    Parameters
    ----------
    out : str or Path
        The results folder (created; a folder of an earlier call with the same
        settings is continued: finished folds are read, not retrained).
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        The flow inputs the rows need ("flow", "pbvm", "evm").
    labels : ndarray of int, shape (N,)
    subjects : ndarray, shape (N,)
    rows : sequence of Row, default :data:`FULL_ROWS`
    recipes : sequence of str
        Names in :data:`mer_lib.train.RECIPES`.
    protocols : sequence of {"paper", "loso"}
    repeats : int, default 5
        Runs under the paper's protocol, run r drawing its split and seeding
        its training with r.
    loso_seeds : int, default 1
        Runs under leave-one-subject-out (each all the folds).
    n_folds : int, optional
        Subject-disjoint folds instead of one per subject (a CPU shortcut).
    epochs, batch_size, n_classes
    class_names : list of str, optional
    workers : "auto" or int
        Training processes at once; "auto": up to 8 on a GPU (the paper's
        small batches leave it mostly idle), 1 on a CPU (where one run already
        uses every core).
    dataset : dict, optional
        What the data are (name, size...), recorded in the provenance.
    command : str, optional
        The command line that regenerates the folder (default: ``sys.argv``).
    progress : bool
    loso_rows : sequence of str, optional
        Keys (:attr:`Row.key`) or labels of the rows also run under
        leave-one-subject-out (default: every row). Its folds are many, so a
        GPU budget may allow it for a few rows only.
    loso_recipes : sequence of str, optional
        The recipes run under leave-one-subject-out (default: every recipe).
    recipe_rows : dict of str to sequence of str, optional
        Recipes run for some rows only: recipe name -> row keys (the
        precision control, :data:`mer_lib.experiments.PRECISION_CONTROL`).
    nested : sequence of str, optional
        A grid of recipe names: each fold of a row that runs all of them also
        chooses among them on an inner split of its training side
        (:func:`mer_lib.experiments.choose_recipe`); the summary shows the
        chosen recipe's results as the recipe "nested".

    Returns
    -------
    pandas.DataFrame
        The summary table (``tables.csv``).
    """
    from mer_lib._io import atomic_save_npz
    from mer_lib.env import gpu_names
    from mer_lib.train import CONTROL_RECIPES, RECIPES

    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    labels = np.asarray(labels).astype(int)
    subjects = np.asarray(subjects).astype(str)
    known = {**RECIPES, **CONTROL_RECIPES}
    for name in recipes:
        if name not in known:
            raise ValueError(f"unknown recipe {name!r}: choose from {', '.join(known)}")
    if recipe_rows is not None:
        for name, keys in recipe_rows.items():
            if name not in recipes:
                raise ValueError(f"recipe_rows: {name!r} is not one of the recipes {', '.join(recipes)}")
            unknown = [k for k in keys if k not in {r.key for r in rows}]
            if unknown:
                raise ValueError(f"recipe_rows[{name!r}]: {unknown[0]!r} is not a row of this reproduction")
        recipe_rows = {name: [r.key for r in rows if r.key in set(keys)] for name, keys in recipe_rows.items()}
    if nested is not None:
        nested = list(nested)
        missing = [name for name in nested if name not in recipes]
        if not nested or missing:
            raise ValueError(f"nested: every recipe of the grid must be one of the recipes {', '.join(recipes)}"
                             + (f"; {missing[0]!r} is not" if missing else ""))
    for protocol in protocols:
        if protocol not in ("paper", "loso"):
            raise ValueError(f"protocol must be 'paper' or 'loso', got {protocol!r}")
    for row in rows:
        if row.model not in MODELS:
            raise ValueError(f"unknown model {row.model!r} in row {row.label!r}")
        if row.flow_input is not None and row.flow_input not in flows:
            raise ValueError(f"row {row.label!r} needs the flow input {row.flow_input!r}; have {sorted(flows)}")
    if loso_rows is not None:
        by_name = {**{r.key: r.key for r in rows}, **{r.label: r.key for r in rows}}
        unknown = [name for name in loso_rows if name not in by_name]
        if unknown:
            raise ValueError(f"loso_rows: {unknown[0]!r} is not a row of this reproduction; choose from "
                             f"{', '.join(r.key for r in rows)}")
        loso_rows = [r.key for r in rows if r.key in {by_name[n] for n in loso_rows}]
    if loso_recipes is not None:
        unknown = [name for name in loso_recipes if name not in recipes]
        if unknown:
            raise ValueError(f"loso_recipes: {unknown[0]!r} is not one of the recipes {', '.join(recipes)}")
        loso_recipes = [name for name in recipes if name in loso_recipes]
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(loso_seeds, (int, np.integer)) or loso_seeds < 1:
        raise ValueError(f"loso_seeds must be a positive integer, got {loso_seeds!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if workers == "auto":
        workers = min(8, os.cpu_count() or 1) if gpu_names() else 1
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be 'auto' or a positive integer, got {workers!r}")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    settings = {"rows": [r.key for r in rows], "recipes": {name: known[name].as_dict() for name in recipes},
                "protocols": list(protocols), "repeats": int(repeats), "loso_seeds": int(loso_seeds),
                "loso_rows": None if loso_rows is None else list(loso_rows),
                "loso_recipes": None if loso_recipes is None else list(loso_recipes),
                "n_folds": n_folds, "epochs": int(epochs), "batch_size": int(batch_size),
                "input_settings": {k: list(v) for k, v in INPUT_SETTINGS.items() if k in flows},
                "recipe_rows": recipe_rows, "nested": nested}
    inputs_path = out / "inputs.npz"
    from mer_lib.train import data_fingerprint

    arrays = {"frames": frames, **{f"flow_{k}": v for k, v in flows.items()}}
    fingerprint = data_fingerprint(arrays, labels, subjects)
    settings_file = out / "settings.json"
    if settings_file.exists():
        try:
            earlier = json.loads(settings_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{settings_file} is not valid JSON ({err}); delete it to start the folder again") from None
        if earlier.get("data") != fingerprint or earlier.get("epochs") != settings["epochs"] or \
                earlier.get("batch_size") != settings["batch_size"] or earlier.get("recipes", {}) != {
                    k: v for k, v in settings["recipes"].items() if k in earlier.get("recipes", {})}:
            raise ValueError(f"{out} holds results of other data or settings (see {settings_file}); "
                             "use another --out folder")
    from mer_lib._io import atomic_write_text

    from mer_lib.fingerprint import input_sketch, preprocessing_versions

    # the exact fingerprint changes with the last bit of any input, which another CPU's SIMD kernels change: the
    # sketch and the pre-processing's libraries say whether another machine's inputs are these within rounding
    versions = preprocessing_versions()
    atomic_write_text(settings_file, json.dumps({**settings, "data": fingerprint,
                                                 "data_sketch": input_sketch(arrays, labels, subjects),
                                                 "preprocessing_versions": versions}, indent=1))
    if not inputs_path.exists():
        atomic_save_npz(inputs_path, frames=frames, labels=labels, subjects=subjects,
                        **{f"flow_{k}": v for k, v in flows.items()})
    jobs = _jobs(rows, recipes, protocols, repeats, loso_seeds, labels, subjects, n_folds, loso_rows, loso_recipes,
                 recipe_rows, nested)
    todo = [j for j in jobs if not (out / "runs" / f"{j.job_id}.json").exists()]
    if progress:
        print(f"{len(jobs)} training runs ({len(jobs) - len(todo)} already done in {out}); {workers} at once")
    bar = None
    if progress:
        from mer_lib.env import progress_bar
        bar = progress_bar(total=len(jobs), initial=len(jobs) - len(todo), desc="reproduction")
    args = (str(inputs_path), str(out), int(epochs), int(batch_size), int(n_classes), nested)
    if workers == 1:            # in this process: its environment is the caller's, left as it is
        for job in todo:
            _run_job(job, *args)
            if bar is not None:
                bar.update()
    elif todo:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init)
        try:
            futures = [pool.submit(_run_job, job, *args) for job in todo]
            for future in as_completed(futures):
                future.result()
                if bar is not None:
                    bar.update()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if bar is not None:
        bar.close()
    inputs_path.unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    wall = time.perf_counter() - t_start
    earlier_wall = 0.0          # the folder was continued: the time of the calls before counts too
    if (out / "provenance.json").exists():
        try:
            earlier_wall = float(json.loads((out / "provenance.json").read_text()).get("wall_seconds", 0.0))
        except (json.JSONDecodeError, ValueError, TypeError):
            earlier_wall = 0.0
    prov = provenance(**settings, dataset=dataset or {"n_clips": int(len(labels)),
                                                      "n_subjects": int(len(np.unique(subjects)))},
                      seeds={"paper": list(range(repeats)), "loso": list(range(loso_seeds))},
                      wall_seconds=round(wall + earlier_wall, 1),
                      command=command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), workers=int(workers),
                      runs=len(jobs), data_fingerprint=fingerprint, preprocessing_versions=versions)
    atomic_write_text(out / "provenance.json", json.dumps(prov, indent=1))
    return summarize_results(out, rows=rows, jobs=jobs, class_names=class_names, n_classes=n_classes)

