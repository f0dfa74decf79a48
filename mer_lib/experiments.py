"""The paper's experiments: Tables 3 and 4 under the paper's split and leave-one-subject-out.

Each row of a table is a model and an input:

- Table 3 (models): CNN_RNN and the one-stream 3D CNN on raw frames, and the
  two-stream network on frames plus phase-magnified TV-L1 flow ("our method");
- Table 4 (pre-processing): raw frames only (the one-stream 3D CNN), the
  two-stream network with the flow of the unmagnified clip ("optical flow"), and
  with the flow of the phase-magnified clip ("PBVM"). The paper's text also
  mentions flow of the Eulerian-magnified clip; it is an extra row here.

The paper's own numbers (Yan & Li 2020, Tables 3 and 4) are kept beside ours
for comparison; they are the paper's, measured on CAS(ME)^2 with a random
80/20 split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_lib import evaluate

__all__ = ["Row", "TABLE3", "TABLE4", "PAPER_TABLE3", "PAPER_TABLE4", "INPUT_SETTINGS", "build", "run_row",
           "run_table"]

#: The paper's Table 3: accuracy of the validation set, f1_score, recall rate.
PAPER_TABLE3 = {"CNN_RNN": (0.58, 0.57, 0.55), "One stream 3D CNN": (0.57, 0.58, 0.56),
                "Our method": (0.66, 0.63, 0.60)}
#: The paper's Table 4: accuracy, F1_score, recall rate.
PAPER_TABLE4 = {"Raw video frame": (0.58, 0.58, 0.56), "optical flow": (0.60, 0.61, 0.56),
                "PBVM": (0.66, 0.63, 0.60)}

#: Pre-processing of each input kind: (magnify, alpha).
INPUT_SETTINGS = {"flow": (None, 0.0), "pbvm": ("phase", 20.0), "evm": ("linear", 20.0)}


@dataclass(frozen=True)
class Row:
    """A table row: a label, a model name and the flow input it needs (None: frames only)."""

    label: str
    model: str
    flow_input: str | None


TABLE3 = (Row("CNN_RNN", "cnn_rnn", None), Row("One stream 3D CNN", "one_stream", None),
          Row("Our method", "two_stream", "pbvm"))
TABLE4 = (Row("Raw video frame", "one_stream", None), Row("optical flow", "two_stream", "flow"),
          Row("PBVM", "two_stream", "pbvm"), Row("EVM (text, not in the table)", "two_stream", "evm"))


def build(model, frames_shape, flow_shape=None, n_classes=3):
    """A callable that builds the named model for these input shapes."""
    from mer_lib import models

    if model == "two_stream":
        return lambda: models.two_stream("paper", frames_shape, flow_shape, n_classes)
    if model == "two_stream_corrected":
        return lambda: models.two_stream("corrected", frames_shape, flow_shape, n_classes)
    if model == "one_stream":
        return lambda: models.one_stream_3dcnn(frames_shape, n_classes)
    if model == "cnn_rnn":
        return lambda: models.cnn_rnn(frames_shape, n_classes)
    raise ValueError(f"unknown model {model!r}: two_stream, two_stream_corrected, one_stream or cnn_rnn")


def _inputs(row, frames, flows, index):
    if row.flow_input is None:
        return frames[index]
    return {"frames": frames[index], "flow": flows[row.flow_input][index]}


def run_row(row, frames, flows, labels, subjects, protocol="paper", *, n_folds=None, epochs=100, batch_size=8,
            seed=0, n_classes=3, checkpoint_root=None, verbose=0, progress=True):
    """Train and test one row under one protocol; predictions of all folds pooled.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        Flow inputs by kind ("flow", "pbvm", "evm").
    labels, subjects : ndarray, shape (N,)
    protocol : {"paper", "loso"}
        "paper": one stratified 80/20 split of the clips; "loso": leave one
        subject out (or ``n_folds`` subject-disjoint folds when given).
    n_folds : int, optional
    epochs, batch_size, seed, n_classes
    checkpoint_root : Path, optional
        Per-fold checkpoints (training resumes after an interruption).

    Returns
    -------
    dict
        ``y_true``, ``y_pred`` (pooled), ``scores``, ``confusion``, ``folds``.
    """
    from mer_lib.train import train

    labels = np.asarray(labels)
    if protocol == "paper":
        folds = [evaluate.paper_split(labels, 0.2, seed)]
    elif protocol == "loso":
        folds = list(evaluate.loso_splits(subjects) if n_folds is None
                     else evaluate.subject_folds(subjects, n_folds, seed))
    else:
        raise ValueError(f"protocol must be 'paper' or 'loso', got {protocol!r}")
    flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
    make = build(row.model, frames.shape[1:], flow_shape, n_classes)
    y_true, y_pred = [], []
    iterator = enumerate(folds)
    if progress and len(folds) > 1:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, total=len(folds), desc=f"{row.label}, {protocol}")
    for k, (train_idx, test_idx) in iterator:
        ckpt = None
        if checkpoint_root is not None:
            ckpt = checkpoint_root / f"{row.model}-{row.flow_input}-{protocol}-{len(folds)}-fold{k}"
        result = train(make, _inputs(row, frames, flows, train_idx), labels[train_idx], n_classes=n_classes,
                       epochs=epochs, batch_size=batch_size, seed=seed + k, checkpoint_dir=ckpt, verbose=verbose)
        probs = result.model.predict(_inputs(row, frames, flows, test_idx), batch_size=32, verbose=0)
        y_true.append(labels[test_idx])
        y_pred.append(np.argmax(probs, axis=1))
    y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
    return {"y_true": y_true, "y_pred": y_pred, "scores": evaluate.scores(y_true, y_pred, n_classes),
            "confusion": evaluate.confusion_matrix(y_true, y_pred, n_classes), "folds": len(folds)}


def run_table(rows, frames, flows, labels, subjects, protocol="paper", paper=None, memo=None, **kwargs):
    """Run every row of a table; return (DataFrame of ours beside the paper's, dict of results by label).

    ``memo`` (a dict) keeps results by (model, input, protocol), so that a row
    shared by Tables 3 and 4 is trained once.
    """
    import pandas as pd

    results, records = {}, []
    for row in rows:
        key = (row.model, row.flow_input, protocol)
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
