"""A plan's folds trained many at once: :func:`mer_lib.batched.train_many` behind :func:`reproduce` on JAX.

:func:`mer_lib.experiments.reproduce` trains through the batched trainer when
Keras' backend is JAX (``trainer="auto"``): the folds still to train are
grouped by what makes one compiled program (the model, the recipe's
normalisation, the input shapes), each group is cut into batches of at most
``max_batch`` runs in the plan's order, and each batch is one call of
:func:`~mer_lib.batched.train_many`. Each fold's record is the one the
per-run path writes (its identity included), plus the trainer, the size of
its batch and the precision; it is written as soon as its batch ends, so an
interrupted reproduction keeps every finished batch, and a batch interrupted
midway resumes from its checkpoint (a folder named by its folds).

A nested job (the recipe chosen by nested validation,
:mod:`mer_lib.experiments.nested`) is one inner training per recipe of the
grid, on the inner split of its fold's training side: each joins the batches
of its program like any fold, its inner score is kept under
``checkpoints/nested/`` (with the job's identity: a score kept under other
settings is trained again, never reused) as soon as its batch ends, and the
job's record is written once every recipe of its grid has one (the choice
:func:`~mer_lib.experiments.choose_recipe` would make, trained as a batch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib._io import atomic_write_text, make_folder
from mer_lib.experiments.folds import _folds, fold_record
from mer_lib.experiments.nested import NESTED, _trained_by, choice_of, inner_score, inner_split
from mer_lib.experiments.rows import MODELS, build, row_inputs

__all__ = ["batched_groups", "run_batched"]


def batched_groups(jobs, plan, frames, flows, max_batch):
    """The jobs cut into batches that can share one compiled program, in the plan's order.

    Parameters
    ----------
    jobs : sequence of Job
        Or anything with a job's ``row``, ``recipe`` and ``job_id`` (a nested
        job's inner trainings).
    plan : dict
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
    max_batch : int
        Runs per batch at most.

    Returns
    -------
    list of (tuple, list of Job)
        The group's key (model, normalisation, frames shape, flow shape or
        None, the recipe's precision) and the jobs of a batch.
    """
    groups = {}
    for job in jobs:
        flow_shape = None
        if MODELS[job.row.model] in ("both", "flow"):
            flow_shape = tuple(flows[job.row.flow_input].shape[1:])
        recipe = plan["recipes"][job.recipe]
        key = (job.row.model, recipe.get("normalization"), tuple(frames.shape[1:]), flow_shape,
               recipe.get("precision", "auto"))
        groups.setdefault(key, []).append(job)
    return [(key, members[i:i + max_batch]) for key, members in groups.items()
            for i in range(0, len(members), max_batch)]


@dataclasses.dataclass(frozen=True)
class _Inner:
    """One inner training of a nested job: the fold's ``row`` under ``recipe``, on the inner split."""

    job: object
    recipe: str
    fit_index: np.ndarray
    val_index: np.ndarray

    @property
    def row(self):
        return self.job.row

    @property
    def job_id(self):
        return f"{self.job.job_id}__inner-{self.recipe}"


def _kept_score(kept, inner_id, identity):
    """The inner score kept as ``kept/<inner_id>.json`` when it was kept under ``identity``; else None."""
    path = Path(kept) / f"{inner_id}.json"
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except ValueError:                 # a damaged file: the training runs again and rewrites it
        return None
    return found if isinstance(found, dict) and found.get("identity") == identity else None


def run_batched(todo, plan, frames, flows, labels, subjects, out, max_batch, write_record, done=None, *, identity):
    """Train the jobs in batches (:func:`batched_groups`) and write each fold's record with ``write_record``.

    Parameters
    ----------
    todo : list of Job
        Folds, and nested jobs (``recipe`` :data:`~mer_lib.experiments.NESTED`),
        whose inner trainings are batched with the folds of their programs.
    plan : dict
    frames, flows, labels, subjects
        As :func:`mer_lib.experiments.reproduce`.
    out : Path
        The results folder (checkpoints go to ``out/checkpoints/batch-<digest>``, the inner scores of nested jobs
        to ``out/checkpoints/nested``).
    max_batch : int
    write_record : callable
        ``write_record(job, record)``: completes and writes a fold's record.
    done : callable, optional
        Called with each job once its record is written.
    identity : callable
        ``identity(job)``: the job's identity (:func:`mer_lib.experiments.job_identity`), kept with each inner
        score of a nested job; a score kept under another identity is trained again.
    """
    from mer_lib.batched import Run, train_many
    from mer_lib.train import CollapseWarning, DeviceNotice, release_training_memory

    subjects = np.asarray(subjects)
    kept = Path(out) / "checkpoints" / "nested"
    items, pending, scores = [job for job in todo if job.recipe != NESTED], {}, {}   # scores: inner id -> kept
    for job in todo:
        if job.recipe == NESTED:       # its inner split (of the training side only), computed once
            train_idx, test_idx = _folds(job.protocol, labels, subjects, job.split_seed, job.subject_folds)[job.fold]
            fit_index, val_index = inner_split(labels, subjects, train_idx, job.seed)
            pending[job.job_id] = (job, fit_index, val_index, test_idx, json.loads(json.dumps(identity(job))))
            for name in plan["nested"]:
                inner_id = f"{job.job_id}__inner-{name}"
                scores[inner_id] = _kept_score(kept, inner_id, pending[job.job_id][4])
                if scores[inner_id] is None:
                    items.append(_Inner(job, name, fit_index, val_index))

    def finish_nested():
        """Write the record of every nested job whose grid is complete (the choice of choose_recipe)."""
        for job_id, (job, fit_index, val_index, test_idx, _) in list(pending.items()):
            inner = {name: scores[f"{job_id}__inner-{name}"] for name in plan["nested"]}
            if any(v is None for v in inner.values()):
                continue
            choice = choice_of(plan["nested"], {name: v["score"] for name, v in inner.items()}, fit_index,
                               val_index)
            write_record(job, {"nested": choice, "test_index": [int(i) for i in test_idx], "warnings": [],
                               "device": inner[plan["nested"][0]]["device"],
                               "seconds": sum(v["seconds"] for v in inner.values()), "epochs": plan["epochs"],
                               **_trained_by(list(inner.values()))})
            del pending[job_id]
            for name in plan["nested"]:
                (kept / f"{job_id}__inner-{name}.json").unlink(missing_ok=True)
            if done is not None:
                done(job)

    finish_nested()                  # nested jobs whose inner trainings all ended before an interruption
    for (model, normalization, frames_shape, flow_shape, precision), batch in batched_groups(
            items, plan, frames, flows, max_batch):
        # a recipe that fixes its precision (the float32 control) is trained so; "auto": bfloat16 where the GPU has it
        mixed = {"float32": False, "mixed_float16": True}.get(precision, "auto")
        make = build(model, frames_shape, flow_shape, plan["n_classes"], normalization)
        runs, tests = [], []
        for item in batch:
            if isinstance(item, _Inner):      # the inner split, as choose_recipe trains it (subjects held out)
                train_idx, test_idx, seed, protocol = item.fit_index, item.val_index, item.job.seed, "loso"
            else:
                train_idx, test_idx = _folds(item.protocol, labels, subjects, item.split_seed,
                                             item.subject_folds)[item.fold]
                seed, protocol = item.seed, item.protocol
            runs.append(Run(inputs=row_inputs(item.row, frames, flows, train_idx, seed), labels=labels[train_idx],
                            seed=seed, recipe=item.recipe,
                            groups=subjects[train_idx] if protocol == "loso" else None,
                            predict=row_inputs(item.row, frames, flows, test_idx, seed), name=item.job_id))
            tests.append(test_idx)
        digest = hashlib.blake2b("\n".join(j.job_id for j in batch).encode(), digest_size=8).hexdigest()
        ckpt = Path(out) / "checkpoints" / f"batch-{digest}"
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # a collapse is kept in each record (and the tables count it), as the per-run path keeps it; the
            # device is said once per reproduction (reproduce)
            warnings.simplefilter("ignore", CollapseWarning)
            warnings.simplefilter("ignore", DeviceNotice)
            results = train_many(make, runs, n_classes=plan["n_classes"], epochs=plan["epochs"],
                                 batch_size=plan["batch_size"], checkpoint_dir=ckpt, keep_models=False, verbose=0,
                                 mixed_precision=mixed)
        seconds = (time.perf_counter() - t0) / len(batch)
        del runs
        for item, result, test_idx in zip(batch, results, tests):
            record = fold_record(result, result.predictions, labels, test_idx, seconds)
            if isinstance(item, _Inner):     # kept on disk (a resumed run reads it) and here, as read back
                text = json.dumps({"identity": pending[item.job.job_id][4],
                                   "score": inner_score(record, plan["n_classes"]),
                                   **{k: record[k] for k in ("device", "seconds", "trainer", "batch_runs",
                                                             "precision")}})
                atomic_write_text(make_folder(kept) / f"{item.job_id}.json", text)
                scores[item.job_id] = json.loads(text)
                continue
            write_record(item, record)
            if done is not None:
                done(item)
        finish_nested()
        shutil.rmtree(ckpt, ignore_errors=True)          # the records are what resuming needs now
        del results
        release_training_memory()
