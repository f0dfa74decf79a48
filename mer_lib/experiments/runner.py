"""The full reproduction: every row, recipe, protocol and repeat as jobs, run several at once, into a results folder.

:func:`reproduce` turns its settings into a plan (:mod:`mer_lib.experiments.plan`),
and a results folder holds one plan: a folder of the same plan is continued
(finished folds are read, not retrained), a folder whose plan the request only
adds runs to is extended, and any other folder is refused before any work,
with the first difference named. Folds run in this process or in worker
processes (:func:`mer_lib._pool.run_in_processes`: Ctrl-C and SIGTERM stop
them within seconds, finished folds are kept). One command at a time writes a
folder (:func:`mer_lib._io.folder_lock`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib._io import atomic_save_npz, atomic_write_text, folder_lock, make_folder
from mer_lib._pool import run_in_processes
from mer_lib.errors import UserInputError
from mer_lib.experiments.batched_runs import run_batched
from mer_lib.experiments.folder import provenance, read_settings, validate_results
from mer_lib.experiments.folds import PROTOCOLS, _folds, _train_fold, check_classes
from mer_lib.experiments.nested import NESTED, choose_recipe
from mer_lib.experiments.plan import (check_records, compare_plans, job_identity, make_plan, plan_jobs,
                                      record_mismatch)
from mer_lib.experiments.results import _read_provenance, summarize_results
from mer_lib.experiments.rows import FULL_ROWS, MODELS, select_rows
from mer_lib.pipeline import INPUT_SETTINGS

__all__ = ["reproduce"]

_WORKER_DATA: dict = {}


def _worker_init():
    from mer_lib.env import quiet_tensorflow

    # a worker process of its own: several share one GPU, so neither TensorFlow nor JAX may take its memory up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    quiet_tensorflow()


def _load_inputs(path):
    if path not in _WORKER_DATA:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        flows = {k[len("flow_"):]: v for k, v in arrays.items() if k.startswith("flow_")}
        _WORKER_DATA.clear()
        _WORKER_DATA[path] = (arrays["frames"], flows, arrays["labels"], arrays["subjects"])
    return _WORKER_DATA[path]


def _run_job(task):
    """Train one fold of one run (or choose its recipe, for a nested job) and write its record to
    runs/<job_id>.json (atomically)."""
    job, plan, inputs_path, out = task
    frames, flows, labels, subjects = _load_inputs(str(inputs_path))
    folds = _folds(job.protocol, labels, subjects, job.split_seed, job.subject_folds)
    train_idx, test_idx = folds[job.fold]
    ckpt = Path(out) / "checkpoints" / job.job_id
    if job.recipe == NESTED:          # the training side only: the test side is not passed
        from mer_lib.env import gpu_names

        t0 = time.perf_counter()
        choice = choose_recipe(job.row, frames, flows, labels, subjects, train_idx, grid=plan["nested"],
                               epochs=plan["epochs"], batch_size=plan["batch_size"], seed=job.seed,
                               n_classes=plan["n_classes"], checkpoint_dir=ckpt)
        gpus = gpu_names()
        trained_by = choice.pop("trained_by")
        record = {"nested": choice, "test_index": [int(i) for i in test_idx], "warnings": [],
                  "device": f"GPU: {', '.join(gpus)}" if gpus else "CPU", "seconds": time.perf_counter() - t0,
                  "epochs": plan["epochs"], **trained_by}
    else:
        record = _train_fold(job.row, job.recipe, frames, flows, labels, subjects, train_idx, test_idx,
                             epochs=plan["epochs"], batch_size=plan["batch_size"], seed=job.seed,
                             n_classes=plan["n_classes"], checkpoint_dir=ckpt, verbose=0, protocol=job.protocol,
                             trainer="fit")
    _write_record(job, plan, out, record)
    shutil.rmtree(ckpt, ignore_errors=True)       # the record is what resuming needs now
    return job.job_id


def _write_record(job, plan, out, record):
    """Complete a fold's record with its job and identity, and write it to runs/<job_id>.json (atomically)."""
    record.update({"job": job.job_id, "run": job.run_id, "row": job.row.label, "row_key": job.row.key,
                   "model": job.row.model, "input": job.row.flow_input or "frames", "control": job.row.control,
                   "recipe": job.recipe, "protocol": job.protocol, "repeat": job.repeat, "fold": job.fold,
                   "n_folds": job.n_folds, "seed": job.seed, "split_seed": job.split_seed,
                   "identity": job_identity(job, plan)})
    atomic_write_text(Path(out) / "runs" / f"{job.job_id}.json", json.dumps(record))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UserInputError(f"{name} must be a positive integer, got {value!r}")


def _check(rows, recipes, protocols, repeats, loso_seeds, n_folds, epochs, batch_size, workers, cpu_epochs,
           loso_rows, loso_recipes, flows, subjects, recipe_rows=None, nested=None):
    """Every argument of :func:`reproduce`, before any work; (loso_rows, loso_recipes, recipe_rows, nested) as
    keys and names."""
    from mer_lib.train import CONTROL_RECIPES, RECIPES

    known = {**RECIPES, **CONTROL_RECIPES}
    for name in recipes:
        if name not in known:
            raise UserInputError(f"unknown recipe {name!r}: choose from {', '.join(known)}")
    if recipe_rows is not None:
        for name, keys in recipe_rows.items():
            if name not in recipes:
                raise UserInputError(f"recipe_rows: {name!r} is not one of the recipes {', '.join(recipes)}")
            unknown = [k for k in keys if k not in {r.key for r in rows}]
            if unknown:
                raise UserInputError(f"recipe_rows[{name!r}]: {unknown[0]!r} is not a row of this reproduction")
        recipe_rows = {name: [r.key for r in rows if r.key in set(keys)] for name, keys in recipe_rows.items()}
    if nested is not None:
        nested = list(nested)
        missing = [name for name in nested if name not in recipes]
        if not nested or missing:
            raise UserInputError(f"nested: every recipe of the grid must be one of the recipes {', '.join(recipes)}"
                                 + (f"; {missing[0]!r} is not" if missing else ""))
    if not protocols or any(p not in PROTOCOLS for p in protocols):
        raise UserInputError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {list(protocols)!r}")
    if not rows:
        raise UserInputError("rows: no row to run")
    for row in rows:
        if row.model not in MODELS:
            raise UserInputError(f"unknown model {row.model!r} in row {row.label!r}")
        if row.flow_input is not None and row.flow_input not in flows:
            raise UserInputError(f"row {row.label!r} needs the flow input {row.flow_input!r}; have {sorted(flows)}")
        if row.flow_input is not None and row.flow_input not in INPUT_SETTINGS:
            raise UserInputError(f"row {row.label!r}: unknown flow input {row.flow_input!r}")
    if loso_rows is not None:
        loso_rows = select_rows(loso_rows, rows, "loso_rows")
    if loso_recipes is not None:
        unknown = [name for name in loso_recipes if name not in recipes]
        if unknown:
            raise UserInputError(f"loso_recipes: {unknown[0]!r} is not one of the recipes {', '.join(recipes)}")
        loso_recipes = [name for name in recipes if name in loso_recipes]
    for name, value in (("repeats", repeats), ("loso_seeds", loso_seeds), ("epochs", epochs),
                        ("batch_size", batch_size)):
        _positive_int(name, value)
    if cpu_epochs is not None:
        _positive_int("cpu_epochs", cpu_epochs)
    if workers != "auto":
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise UserInputError(f"workers must be 'auto' or a positive integer, got {workers!r}")
    n_subjects = len(np.unique(subjects))
    if "loso" in protocols:
        if n_folds is not None and (isinstance(n_folds, bool) or int(n_folds) != n_folds
                                    or not 2 <= n_folds <= n_subjects):
            raise UserInputError(f"n_folds must be between 2 and the number of subjects ({n_subjects}), got "
                                 f"{n_folds!r}")
        if n_subjects < 2:
            raise UserInputError(f"leave-one-subject-out needs at least 2 subjects, got {n_subjects}")
    return loso_rows, loso_recipes, recipe_rows, nested


def reproduce(out, frames, flows, labels, subjects, *, rows=FULL_ROWS, recipes=("paper", "stable"),
              protocols=PROTOCOLS, repeats=5, loso_seeds=1, n_folds=None, epochs=100, batch_size=8,
              n_classes=3, class_names=None, workers="auto", dataset=None, command=None, progress=True,
              loso_rows=None, loso_recipes=None, cpu_epochs=None, reuse=None, recipe_rows=None, nested=None,
              trainer="auto", max_batch="auto", trainings_per_process=None):
    """Run rows x recipes x protocols x repeats, several at once, and write a results folder.

    Parameters
    ----------
    out : str or Path
        The results folder. Created; a folder of the same plan is continued
        (finished folds are read, not retrained); a folder whose plan this one
        only adds runs to (more repeats, seeds, rows, recipes or protocols,
        every other setting the same) is extended; any other is refused.
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        The flow inputs the rows need (keys of
        :data:`mer_lib.pipeline.INPUT_SETTINGS`, made with those settings).
    labels : ndarray of int, shape (N,)
    subjects : ndarray, shape (N,)
    rows : sequence of Row, default :data:`FULL_ROWS`
    recipes : sequence of str
        Names in :data:`mer_lib.train.RECIPES` (or
        :data:`mer_lib.train.CONTROL_RECIPES`).
    protocols : sequence of {"paper", "loso"}
    repeats : int, default 5
        Runs under the paper's protocol, run r drawing its split and seeding
        its training with r.
    loso_seeds : int, default 1
        Runs under leave-one-subject-out (each all the folds).
    n_folds : int, optional
        Subject-disjoint folds instead of one per subject (a CPU shortcut).
    epochs : int, default 100
        The paper's (:func:`mer_lib.train.train`'s default).
    batch_size : int, default 8
        The paper's.
    n_classes : int
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
    cpu_epochs : int, optional
        On a machine without a GPU, train this many epochs instead of
        ``epochs`` (when fewer). The plan, the records and the provenance
        hold the epochs trained, and the provenance says the run was
        shortened (``shortened_from``).
    reuse : str or Path, optional
        A folder of run records from an earlier call (another machine's
        ``runs/``): a record there that is a fold of this plan (the same
        identity: settings, data, seeds) is copied in instead of trained; any
        other is left alone.
    recipe_rows : dict of str to sequence of str, optional
        Recipes run for some rows only: recipe name -> row keys (the
        precision control, :data:`mer_lib.experiments.PRECISION_CONTROL`).
    nested : sequence of str, optional
        A grid of recipe names: each fold of a row that runs all of them also
        chooses among them on an inner split of its training side
        (:func:`mer_lib.experiments.choose_recipe`); the summary shows the
        chosen recipe's results as the recipe "nested".
    trainer : {"auto", "fit", "batched"}
        "fit": each fold trained by Keras' fit (:func:`mer_lib.train.train`),
        in this process or in ``workers`` processes. "batched": the folds
        that share an architecture and input shapes trained together,
        ``max_batch`` at a time, in one compiled program each
        (:func:`mer_lib.batched.train_many`, Keras' JAX backend; ``workers``
        is not used). "auto": ``MER_TRAINER`` when set, else "batched" on the
        JAX backend and "fit" otherwise. Both write the same records (the
        plan's identity kept; a folder may be continued by either), each
        naming its trainer, batch and precision, as the provenance does.
    max_batch : "auto" or int
        Folds per compiled program at most ("auto": 64 with a GPU, 8 without).
    trainings_per_process : int, optional
        Keras' fit only: train in worker processes (``workers`` of them, even
        one), replaced by fresh ones after about this many trainings each, so
        that the plan's memory does not grow with its length (TensorFlow's
        runtime keeps part of every training it ran until its process ends).
        Default: with one worker, the folds are trained in this process.

    Returns
    -------
    pandas.DataFrame
        The summary table (``tables.csv``).

    Raises
    ------
    UserInputError
        A bad argument (before any work), a folder holding another plan or a
        record of no fold of this plan, a folder in use by another command, a
        dataset of one class.
    """
    from mer_lib.env import gpu_names
    from mer_lib.fingerprint import input_sketch, preprocessing_versions
    from mer_lib.train import CONTROL_RECIPES, RECIPES, DeviceNotice, data_fingerprint

    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"the results folder {str(out)!r} is a file, not a folder")
    labels = np.asarray(labels).astype(int)
    subjects = np.asarray(subjects).astype(str)
    rows, recipes, protocols = tuple(rows), tuple(recipes), tuple(protocols)
    loso_rows, loso_recipes, recipe_rows, nested = _check(
        rows, recipes, protocols, repeats, loso_seeds, n_folds, epochs, batch_size, workers, cpu_epochs, loso_rows,
        loso_recipes, flows, subjects, recipe_rows, nested)
    if trainings_per_process is not None:
        _positive_int("trainings_per_process", trainings_per_process)
    trainer, max_batch = _choose_trainer(trainer, max_batch)
    class_warnings = check_classes(labels, n_classes, class_names)
    gpus = gpu_names()
    if workers == "auto":
        workers = min(8, os.cpu_count() or 1) if gpus else 1
    asked_epochs = int(epochs)
    if not gpus:        # said once here: each fold's training is told to keep it to itself
        warnings.warn("No GPU found: training on the CPU, which is much slower (in Colab: Runtime > Change "
                      "runtime type > GPU).", DeviceNotice, stacklevel=2)
    if cpu_epochs is not None and not gpus and cpu_epochs < epochs:
        epochs = int(cpu_epochs)
        warnings.warn(f"Shortened run on the CPU: {epochs} epochs instead of {asked_epochs}.", DeviceNotice,
                      stacklevel=2)
    kinds = sorted({r.flow_input for r in rows if r.flow_input})
    fingerprint = data_fingerprint({"frames": frames}, labels, subjects)
    input_data = {k: data_fingerprint({f"flow_{k}": flows[k]}, labels, subjects) for k in kinds}
    known = {**RECIPES, **CONTROL_RECIPES}
    plan = make_plan(rows, {name: known[name].as_dict() for name in recipes}, protocols, repeats, loso_seeds,
                     loso_rows, loso_recipes, n_folds, epochs, batch_size, n_classes,
                     {k: INPUT_SETTINGS[k] for k in kinds}, fingerprint, input_data, len(np.unique(subjects)),
                     recipe_rows=recipe_rows, nested=nested)
    # the exact fingerprint changes with the last bit of any input, which another CPU's SIMD kernels change: the
    # sketch and the pre-processing's libraries say whether another machine's inputs are these within rounding
    arrays = {"frames": frames, **{f"flow_{k}": flows[k] for k in kinds}}
    versions = preprocessing_versions()
    checks = {"data_sketch": input_sketch(arrays, labels, subjects), "preprocessing_versions": versions}
    jobs = plan_jobs(plan, rows)
    command = command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    with folder_lock(out, command, option="the results folder"):
        earlier = read_settings(out)
        if earlier is not None:
            kind, why = compare_plans(earlier, plan)
            if kind == "differs":
                raise UserInputError(f"{out} holds results of other data or settings ({why}); a results folder "
                                     "holds one plan: ask for all of its runs (or more), or use another folder")
        done = check_records(out, plan, jobs)
        earlier_wall = 0.0          # a folder continued: the time of the calls before counts too
        if (out / "provenance.json").exists():
            earlier_wall = float(_read_provenance(out).get("wall_seconds") or 0.0)
        make_folder(out / "runs")
        atomic_write_text(out / "settings.json", json.dumps({**plan, **checks}, indent=1))
        done |= _reused(reuse, plan, [j for j in jobs if j.job_id not in done], out, progress)
        todo = [j for j in jobs if j.job_id not in done]
        if progress:
            at_once = (f"up to {max_batch} at once in one program (the batched trainer)" if trainer == "batched"
                       else f"{min(workers, max(len(todo), 1))} at once")
            print(f"{len(jobs)} training runs ({len(jobs) - len(todo)} already done in {out}); {at_once}")
            for line in class_warnings:
                print(f"warning: {line}")
        inputs_path = out / "inputs.npz"
        if todo:
            atomic_save_npz(inputs_path, frames=frames, labels=labels, subjects=subjects,
                            **{f"flow_{k}": flows[k] for k in kinds})
        if trainer == "batched":        # a nested job's inner trainings join the batches of their programs
            _run_batched(todo, plan, frames, flows, labels, subjects, out, max_batch, progress, len(jobs))
        else:
            _run_jobs(todo, plan, inputs_path, out, workers, progress, len(jobs), trainings_per_process)
        inputs_path.unlink(missing_ok=True)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        prov = provenance(**{k: v for k, v in plan.items() if k not in ("data", "n_subjects")},
                          dataset=dataset or {"n_clips": int(len(labels)), "n_subjects": plan["n_subjects"]},
                          seeds={"paper": list(range(repeats)), "loso": list(range(loso_seeds))},
                          wall_seconds=round(time.perf_counter() - t_start + earlier_wall, 1), command=command,
                          workers=1 if trainer == "batched" else int(workers), runs=len(jobs),
                          data_fingerprint=fingerprint, preprocessing_versions=versions, **_trainers(out, jobs),
                          **({"shortened_from": asked_epochs} if epochs != asked_epochs else {}),
                          **({"data_warnings": class_warnings} if class_warnings else {}))
        prov["dataset"].setdefault("n_subjects", plan["n_subjects"])
        atomic_write_text(out / "provenance.json", json.dumps(prov, indent=1))
        tables = summarize_results(out, rows=rows, jobs=jobs, class_names=class_names, n_classes=n_classes,
                                   plan=plan)
        validate_results(out)
    return tables


def _reused(reuse, plan, jobs, out, progress):
    """Copy into ``out/runs`` the records in ``reuse`` that are folds of the plan; their job ids."""
    if reuse is None:
        return set()
    reuse, taken = Path(reuse), set()
    for job in jobs:
        path = reuse / f"{job.job_id}.json"
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and record_mismatch(record, job_identity(job, plan)) is None:
            atomic_write_text(out / "runs" / path.name, json.dumps(record))
            taken.add(job.job_id)
    if progress:
        print(f"{len(taken)} finished folds reused from {reuse}")
    return taken


def _choose_trainer(trainer, max_batch):
    """("fit" or "batched", the folds per program) from reproduce's arguments, checked."""
    from mer_lib.env import gpu_names, keras_backend

    backend = keras_backend()       # without importing Keras: a parent of worker processes trains nothing itself
    if trainer not in ("auto", "fit", "batched"):
        raise UserInputError(f"trainer must be 'auto', 'fit' or 'batched', got {trainer!r}")
    if trainer == "auto" and os.environ.get("MER_TRAINER"):
        trainer = os.environ["MER_TRAINER"]
        if trainer not in ("fit", "batched"):
            raise UserInputError(f"the environment variable MER_TRAINER must be 'fit' or 'batched', got {trainer!r}")
    if trainer == "auto":
        trainer = "batched" if backend == "jax" else "fit"
    if trainer == "batched" and backend != "jax":
        raise UserInputError("trainer='batched' trains on Keras' JAX backend: set KERAS_BACKEND=jax before Keras is "
                             f"imported (this process uses {backend!r})")
    if max_batch == "auto":
        max_batch = 64 if gpu_names() else 8
    _positive_int("max_batch", max_batch)
    return trainer, int(max_batch)


def _trainers(out, jobs):
    """The provenance's trainer, batch_runs (the largest) and precision, as the folder's records say."""
    found = {"trainer": set(), "batch_runs": set(), "precision": set()}
    for job in jobs:
        path = Path(out) / "runs" / f"{job.job_id}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            found["trainer"].add(record.get("trainer", "keras fit"))
            found["batch_runs"].add(int(record.get("batch_runs", 1)))
            found["precision"].add(record.get("precision", "unknown"))
    return {"trainer": " and ".join(sorted(found["trainer"])), "batch_runs": max(found["batch_runs"], default=0),
            "precision": " and ".join(sorted(found["precision"]))}


def _run_batched(todo, plan, frames, flows, labels, subjects, out, max_batch, progress, total):
    bar = None
    if progress:
        from mer_lib.env import progress_bar
        bar = progress_bar(total=total, initial=total - len(todo), desc="reproduction (batched)")
    try:
        run_batched(todo, plan, frames, flows, labels, subjects, out, max_batch,
                    lambda job, record: _write_record(job, plan, out, record),
                    None if bar is None else (lambda job: bar.update()),
                    identity=lambda job: job_identity(job, plan))
    finally:
        if bar is not None:
            bar.close()


def _run_jobs(todo, plan, inputs_path, out, workers, progress, total, trainings_per_process=None):
    bar = None
    if progress:
        from mer_lib.env import progress_bar
        bar = progress_bar(total=total, initial=total - len(todo), desc="reproduction")

    def done(_):
        if bar is not None:
            bar.update()

    tasks = [(job, plan, str(inputs_path), str(out)) for job in todo]
    try:
        if trainings_per_process is None and (workers == 1 or len(tasks) <= 1):
            # in this process: its environment is the caller's, left as it is
            from mer_lib.train import release_training_memory

            # a plan's peak memory does not grow with its trainings: train releases what the last one left before
            # each training (a second call after each fold cost 0.3 s a fold for nothing); the last one's, here
            try:
                for task in tasks:
                    done(_run_job(task))
            finally:
                release_training_memory()
        else:
            run_in_processes(_run_job, tasks, workers, done, initializer=_worker_init,
                             tasks_per_process=trainings_per_process)
    finally:
        if bar is not None:
            bar.close()
