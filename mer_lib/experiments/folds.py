"""Training and testing one row: the folds of a protocol, one fold's training, a row, a table."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib import evaluate, splits
from mer_lib.experiments.rows import build, row_inputs

__all__ = ["run_row", "run_table"]


def _folds(protocol, labels, subjects, seed, n_folds=None):
    if protocol == "paper":
        return [splits.paper_split(labels, 0.2, seed)]
    if protocol == "loso":
        return list(splits.loso_splits(subjects) if n_folds is None
                    else splits.subject_folds(subjects, n_folds, seed))
    raise ValueError(f"protocol must be 'paper' or 'loso', got {protocol!r}")


def _train_fold(row, recipe, frames, flows, labels, subjects, train_idx, test_idx, *, epochs, batch_size, seed,
                n_classes, checkpoint_dir, verbose, protocol, cpu_epochs=None):
    """Train one fold and predict its test clips; the record a results folder keeps of it.

    A validation set (for recipes that pick their epoch) is carved out of the
    training fold the way the protocol splits: whole subjects under
    leave-one-subject-out, stratified clips under the paper's split."""
    from mer_lib.train import get_recipe, train

    recipe = get_recipe(recipe)
    flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
    make = build(row.model, frames.shape[1:], flow_shape, n_classes, recipe.normalization)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # collapse warnings are kept in the record instead
        result = train(make, row_inputs(row, frames, flows, train_idx, seed), labels[train_idx], recipe=recipe,
                       n_classes=n_classes, epochs=epochs, batch_size=batch_size, seed=seed,
                       groups=np.asarray(subjects)[train_idx] if protocol == "loso" else None,
                       checkpoint_dir=checkpoint_dir, verbose=verbose,
                       cpu_epochs=cpu_epochs)
    probs = result.model.predict(row_inputs(row, frames, flows, test_idx, seed), batch_size=32, verbose=0)
    return {"test_index": [int(i) for i in test_idx], "y_true": [int(v) for v in labels[test_idx]],
            "y_pred": [int(v) for v in np.argmax(probs, axis=1)],
            "probabilities": np.round(np.asarray(probs, float), 5).tolist(), "history": result.history,
            "initial_loss": result.initial_loss, "best_epoch": result.best_epoch, "epochs": result.epochs,
            "warnings": result.warnings, "device": result.device, "seconds": time.perf_counter() - t0,
            "train_seconds": result.train_seconds, "checkpoint_seconds": result.checkpoint_seconds,
            "precision": result.precision}


def run_row(row, frames, flows, labels, subjects, protocol="paper", *, recipe="paper", n_folds=None, epochs=100,
            batch_size=8, seed=0, n_classes=3, checkpoint_root=None, verbose=0, progress=True, cpu_epochs=None):
    """Train and test one row under one protocol; predictions of all folds pooled.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        Flow inputs by kind ("flow", "pbvm", "evm").
    labels, subjects : ndarray, shape (N,)
    protocol : {"paper", "loso"}
        "paper": one stratified 80/20 split of the clips (drawn with
        ``seed``); "loso": leave one subject out (or ``n_folds``
        subject-disjoint folds when given).
    recipe : {"paper", "stable"} or Recipe
    n_folds : int, optional
    epochs, batch_size, seed, n_classes
    checkpoint_root : Path, optional
        Per-fold checkpoints (training resumes after an interruption).
    cpu_epochs : int, optional
        Shorten each fold's training on a machine without a GPU.

    Returns
    -------
    dict
        ``y_true``, ``y_pred`` (pooled), ``scores``, ``confusion``, ``folds``,
        ``warnings`` (per fold), ``histories`` (per fold).
    """
    from mer_lib.train import get_recipe

    recipe = get_recipe(recipe)
    labels = np.asarray(labels)
    folds = _folds(protocol, labels, subjects, seed, n_folds)
    y_true, y_pred, fold_warnings, histories = [], [], [], []
    iterator = enumerate(folds)
    if progress and len(folds) > 1:
        from mer_lib.env import progress_bar
        iterator = progress_bar(iterator, total=len(folds), desc=f"{row.label}, {protocol}")
    for k, (train_idx, test_idx) in iterator:
        ckpt = None
        if checkpoint_root is not None:
            ckpt = (Path(checkpoint_root) /
                    f"{row.key}-{recipe.name}-{protocol}-{len(folds)}-s{seed}-fold{k}")
        record = _train_fold(row, recipe, frames, flows, labels, subjects, train_idx, test_idx, epochs=epochs,
                             batch_size=batch_size, seed=seed + k, n_classes=n_classes, checkpoint_dir=ckpt,
                             verbose=verbose, protocol=protocol, cpu_epochs=cpu_epochs)
        y_true.append(record["y_true"])
        y_pred.append(record["y_pred"])
        fold_warnings.append(record["warnings"])
        histories.append(record["history"])
    y_true, y_pred = np.concatenate(y_true).astype(int), np.concatenate(y_pred).astype(int)
    return {"y_true": y_true, "y_pred": y_pred, "scores": evaluate.scores(y_true, y_pred, n_classes),
            "confusion": evaluate.confusion_matrix(y_true, y_pred, n_classes), "folds": len(folds),
            "warnings": fold_warnings, "histories": histories}


def run_table(rows, frames, flows, labels, subjects, protocol="paper", paper=None, memo=None, **kwargs):
    """Run every row of a table once; return (DataFrame of ours beside the paper's, dict of results by label).

    ``memo`` (a dict) keeps results by (model, input, control, protocol,
    recipe), so that a row shared by Tables 3 and 4 is trained once. For
    repeated runs with intervals, use :func:`reproduce`.
    """
    import pandas as pd

    results, records = {}, []
    for row in rows:
        key = (row.model, row.flow_input, row.control, protocol, str(kwargs.get("recipe", "paper")))
        if memo is not None and key in memo:
            res = memo[key]
        else:
            res = run_row(row, frames, flows, labels, subjects, protocol, **kwargs)
            if memo is not None:
                memo[key] = res
        results[row.label] = res
        s = res["scores"]
        ref = (paper or {}).get(row.label, (np.nan, np.nan, np.nan))
        records.append({"method": row.label, "accuracy": s["accuracy"], "UF1": s["uf1"], "UAR": s["uar"],
                        "paper accuracy": ref[0], "paper F1": ref[1], "paper recall": ref[2]})
    return pd.DataFrame(records), results

