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
"""

from __future__ import annotations

import hashlib
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib.experiments.folds import _folds, fold_record
from mer_lib.experiments.rows import MODELS, build, row_inputs

__all__ = ["batched_groups", "run_batched"]


def batched_groups(jobs, plan, frames, flows, max_batch):
    """The jobs cut into batches that can share one compiled program, in the plan's order.

    Parameters
    ----------
    jobs : sequence of Job
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


def run_batched(todo, plan, frames, flows, labels, subjects, out, max_batch, write_record, done=None):
    """Train the jobs in batches (:func:`batched_groups`) and write each fold's record with ``write_record``.

    Parameters
    ----------
    todo : list of Job
    plan : dict
    frames, flows, labels, subjects
        As :func:`mer_lib.experiments.reproduce`.
    out : Path
        The results folder (checkpoints go to ``out/checkpoints/batch-<digest>``).
    max_batch : int
    write_record : callable
        ``write_record(job, record)``: completes and writes a fold's record.
    done : callable, optional
        Called with each job once its record is written.
    """
    from mer_lib.batched import Run, train_many
    from mer_lib.train import CollapseWarning, DeviceNotice, release_training_memory

    subjects = np.asarray(subjects)
    for (model, normalization, frames_shape, flow_shape, precision), batch in batched_groups(
            todo, plan, frames, flows, max_batch):
        # a recipe that fixes its precision (the float32 control) is trained so; "auto": bfloat16 where the GPU has it
        mixed = {"float32": False, "mixed_float16": True}.get(precision, "auto")
        make = build(model, frames_shape, flow_shape, plan["n_classes"], normalization)
        runs, tests = [], []
        for job in batch:
            train_idx, test_idx = _folds(job.protocol, labels, subjects, job.split_seed,
                                         job.subject_folds)[job.fold]
            runs.append(Run(inputs=row_inputs(job.row, frames, flows, train_idx, job.seed), labels=labels[train_idx],
                            seed=job.seed, recipe=job.recipe,
                            groups=subjects[train_idx] if job.protocol == "loso" else None,
                            predict=row_inputs(job.row, frames, flows, test_idx, job.seed), name=job.job_id))
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
        for job, result, test_idx in zip(batch, results, tests):
            write_record(job, fold_record(result, result.predictions, labels, test_idx, seconds))
            if done is not None:
                done(job)
        shutil.rmtree(ckpt, ignore_errors=True)          # the records are what resuming needs now
        del results
        release_training_memory()
