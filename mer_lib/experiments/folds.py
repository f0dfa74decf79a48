"""Training and testing one row: the folds of a protocol, one fold's training, a row, a table."""

from __future__ import annotations

import inspect
import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib import evaluate, splits
from mer_lib.errors import UserInputError
from mer_lib.experiments.rows import build, row_inputs

__all__ = ["run_row", "run_table", "PROTOCOLS", "check_classes", "fold_record"]

#: The protocols: "paper" (one stratified 80/20 split of the clips), "loso" (subjects held out).
PROTOCOLS = ("paper", "loso")


def _folds(protocol, labels, subjects, seed, n_folds=None):
    """(train_indices, test_indices) of each fold of a protocol."""
    if protocol == "paper":
        return [splits.paper_split(labels, 0.2, seed)]
    if protocol == "loso":
        return list(splits.loso_splits(subjects) if n_folds is None
                    else splits.subject_folds(subjects, n_folds, seed))
    raise UserInputError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


def check_classes(labels, n_classes, class_names=None):
    """Refuse a dataset with one class; name the classes a dataset has no clip of.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_classes : int
    class_names : list of str, optional

    Returns
    -------
    list of str
        One line per class with no clip (empty when every class has one).

    Raises
    ------
    UserInputError
        Fewer than two classes among ``labels``: a classifier of one class
        scores 1.0 and says nothing.
    """
    labels = np.asarray(labels, dtype=int)
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    present = sorted(set(labels.tolist()))
    if len(present) < 2:
        which = names[present[0]] if present and present[0] < len(names) else present
        raise UserInputError(f"the dataset holds clips of one class only ({which!r}): there is nothing to tell "
                             "apart, and a score would mean nothing")
    return [f"class {names[c]!r} has no clip in the dataset: its recall is undefined and its F1 is 0"
            for c in splits.missing_classes(labels, n_classes)]


def fold_record(result, probabilities, labels, test_idx, seconds):
    """What a results folder keeps of one trained fold (before its job's fields and identity are added).

    Parameters
    ----------
    result : mer_lib.train.TrainResult
    probabilities : ndarray, shape (M, n_classes)
        The trained model's probabilities for the fold's test clips.
    labels : ndarray of int, shape (N,)
        Every clip's label.
    test_idx : array_like of int, shape (M,)
    seconds : float
        The fold's wall time (its share of its batch's, for a batched run).

    Returns
    -------
    dict
        Test clips, labels, predictions and probabilities, the history and
        diagnostics, the device, the trainer (``trainer``, ``batch_runs``,
        ``precision``) and the times.
    """
    probs = np.asarray(probabilities, float)
    return {"test_index": [int(i) for i in test_idx], "y_true": [int(v) for v in np.asarray(labels)[test_idx]],
            "y_pred": [int(v) for v in np.argmax(probs, axis=1)],
            "probabilities": np.round(probs, 5).tolist(), "history": result.history,
            "initial_loss": result.initial_loss, "best_epoch": result.best_epoch, "epochs": result.epochs,
            "warnings": result.warnings, "data_warnings": list(result.data_warnings), "device": result.device,
            "trainer": result.trainer, "batch_runs": int(result.batch_runs), "precision": result.precision,
            "seconds": float(seconds), "train_seconds": result.train_seconds,
            "checkpoint_seconds": result.checkpoint_seconds}


def _train_fold(row, recipe, frames, flows, labels, subjects, train_idx, test_idx, *, epochs, batch_size, seed,
                n_classes, checkpoint_dir, verbose, protocol, cpu_epochs=None, trainer="auto"):
    """Train one fold and predict its test clips; the record a results folder keeps of it.

    A validation set (for recipes that pick their epoch) is carved out of the
    training fold the way the protocol splits: whole subjects under
    leave-one-subject-out, stratified clips under the paper's split. A class
    with no clip on the training side is recorded in ``data_warnings`` (and
    warned as :class:`mer_lib.train.DataWarning`)."""
    from mer_lib.env import tensorflow_log_level
    from mer_lib.models import predict
    from mer_lib.train import CollapseWarning, DeviceNotice, get_recipe, train

    recipe = get_recipe(recipe)
    flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
    make = build(row.model, frames.shape[1:], flow_shape, n_classes, recipe.normalization)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), tensorflow_log_level("ERROR"):
        # a collapse is kept in the record (and the tables count it) instead of being shown per fold; the
        # device is said once per reproduction (reproduce); predicting with a new model retraces, as expected
        warnings.simplefilter("ignore", CollapseWarning)
        warnings.simplefilter("ignore", DeviceNotice)
        result = train(make, row_inputs(row, frames, flows, train_idx, seed), labels[train_idx], recipe=recipe,
                       n_classes=n_classes, epochs=epochs, batch_size=batch_size, seed=seed,
                       groups=np.asarray(subjects)[train_idx] if protocol == "loso" else None,
                       checkpoint_dir=checkpoint_dir, verbose=verbose,
                       cpu_epochs=cpu_epochs, trainer=trainer)
        probs = predict(result.model, row_inputs(row, frames, flows, test_idx, seed), batch_size=32)
    return fold_record(result, probs, labels, test_idx, time.perf_counter() - t0)


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
    epochs : int, default 100
        The paper's (and :func:`mer_lib.train.train`'s default).
    batch_size : int, default 8
        The paper's.
    seed : int
        Draws the paper's split (or deals the subjects into ``n_folds``); fold
        k trains with ``seed + k``.
    n_classes : int
    checkpoint_root : Path, optional
        Per-fold checkpoints (training resumes after an interruption).
    verbose : int
    progress : bool
    cpu_epochs : int, optional
        Shorten each fold's training on a machine without a GPU.

    Returns
    -------
    dict
        ``y_true``, ``y_pred`` (pooled), ``scores``, ``confusion``, ``folds``,
        ``warnings`` (collapse warnings per fold), ``data_warnings`` (per
        fold: a class with no clip on its training side), ``histories`` (per
        fold).

    Raises
    ------
    UserInputError
        A dataset of one class, an unknown protocol, ``n_folds`` outside 2 to
        the number of subjects.
    """
    from mer_lib.train import get_recipe

    recipe = get_recipe(recipe)
    labels = np.asarray(labels)
    check_classes(labels, n_classes)
    folds = _folds(protocol, labels, subjects, seed, n_folds)
    y_true, y_pred, fold_warnings, data_warnings, histories = [], [], [], [], []
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
        data_warnings.append([f"fold {k}: {w}" for w in record["data_warnings"]])
        histories.append(record["history"])
    y_true, y_pred = np.concatenate(y_true).astype(int), np.concatenate(y_pred).astype(int)
    return {"y_true": y_true, "y_pred": y_pred, "scores": evaluate.scores(y_true, y_pred, n_classes),
            "confusion": evaluate.confusion_matrix(y_true, y_pred, n_classes), "folds": len(folds),
            "warnings": fold_warnings, "data_warnings": data_warnings, "histories": histories}


def run_table(rows, frames, flows, labels, subjects, protocol="paper", paper=None, memo=None, **kwargs):
    """Run every row of a table once; ours beside the paper's, and the results by label.

    Parameters
    ----------
    rows : sequence of Row
    frames, flows, labels, subjects, protocol
        As :func:`run_row`.
    paper : dict, optional
        Label -> the paper's (accuracy, F1, recall) (:data:`PAPER_TABLE3`...).
    memo : dict, optional
        Keeps results by (model, input, control, protocol, recipe), so that a
        row shared by Tables 3 and 4 is trained once.
    **kwargs
        Passed to :func:`run_row`.

    Returns
    -------
    pandas.DataFrame
        One line per row: ours (accuracy, UF1, UAR) and the paper's.
    dict
        :func:`run_row`'s result by label.

    Notes
    -----
    One run per row: for repeated runs with intervals, use
    :func:`mer_lib.experiments.reproduce`.
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


def library_defaults():
    """The epochs and batch size the library trains with by default (read from :func:`mer_lib.train.train`)."""
    from mer_lib.train import train

    params = inspect.signature(train).parameters
    return {"epochs": params["epochs"].default, "batch_size": params["batch_size"].default}
