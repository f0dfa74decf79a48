"""Honest evaluation: MEGC metrics (UF1, UAR), confusion matrices, and subject-aware protocols.

Two protocols:

- the paper's: a stratified 80/20 split of the clips (``paper_split``). Its
  caveat: clips of one subject land on both sides, so the test set contains
  faces the network has seen, and the score flatters it;
- leave-one-subject-out (``loso_splits``): each subject in turn is the test
  set, the model is trained on all the others, and the predictions of all folds
  are pooled before scoring (the MEGC 2019 protocol).

Model selection never looks at the test fold: a validation split, when one is
wanted, is carved out of the training fold (``validation_split``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "accuracy", "per_class_recall", "macro_f1", "uf1", "uar", "scores",
           "loso_splits", "subject_folds", "paper_split", "validation_split", "plot_confusion"]


def _check_labels(y_true, y_pred, n_classes=None):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true is empty: nothing to score")
    if not (np.issubdtype(y_true.dtype, np.integer) and np.issubdtype(y_pred.dtype, np.integer)):
        raise TypeError("labels must be integer class indices")
    k = int(max(y_true.max(), y_pred.max()) + 1) if n_classes is None else int(n_classes)
    if min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k:
        raise ValueError(f"labels must be in 0 .. {k - 1}")
    return y_true, y_pred, k


def confusion_matrix(y_true, y_pred, n_classes=None):
    """Counts ``C[i, j]`` of clips of true class i predicted as class j.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
    n_classes : int, optional

    Returns
    -------
    ndarray of int, shape (K, K)
    """
    y_true, y_pred, k = _check_labels(y_true, y_pred, n_classes)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def accuracy(y_true, y_pred):
    """Fraction of correct predictions."""
    y_true, y_pred, _ = _check_labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def per_class_recall(y_true, y_pred, n_classes=None):
    """Recall of each class, TP_c / n_c (NaN for a class absent from y_true).

    Returns
    -------
    ndarray, shape (K,)
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def uf1(y_true, y_pred, n_classes=None):
    """Unweighted F1 (MEGC): per class F1_c = 2TP / (2TP + FP + FN) from counts pooled over
    all folds, then averaged over classes.

    Pass the pooled predictions of all folds: summing TP, FP and FN over folds
    is the same as counting them on the pooled predictions.

    Returns
    -------
    float
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def uar(y_true, y_pred, n_classes=None):
    """Unweighted average recall (MEGC): the mean over classes of TP_c / n_c, classes present in y_true.

    Returns
    -------
    float
    """
    recall = per_class_recall(y_true, y_pred, n_classes)
    return float(np.nanmean(recall))


def macro_f1(y_true, y_pred, n_classes=None):
    """Macro F1: the mean of per-class F1 (on pooled predictions, equal to :func:`uf1`)."""
    return uf1(y_true, y_pred, n_classes)


def scores(y_true, y_pred, n_classes=None):
    """Accuracy, UF1, UAR and per-class recall in one dict."""
    return {"accuracy": accuracy(y_true, y_pred), "uf1": uf1(y_true, y_pred, n_classes),
            "uar": uar(y_true, y_pred, n_classes), "recall": per_class_recall(y_true, y_pred, n_classes)}


def loso_splits(subjects):
    """Leave-one-subject-out folds.

    Parameters
    ----------
    subjects : array_like, shape (N,)
        The subject of each clip (any hashable values).

    Yields
    ------
    train_indices, test_indices : ndarray of int
        One fold per subject, in sorted subject order; the test indices are
        exactly that subject's clips.
    """
    subjects = np.asarray(subjects)
    if subjects.ndim != 1 or subjects.size == 0:
        raise ValueError("subjects must be a non-empty 1-D array")
    unique = np.unique(subjects)
    if len(unique) < 2:
        raise ValueError("leave-one-subject-out needs at least 2 subjects")
    for s in unique:
        test = np.flatnonzero(subjects == s)
        train = np.flatnonzero(subjects != s)
        yield train, test


def subject_folds(subjects, n_folds, seed=0):
    """Subject-disjoint folds: subjects shuffled and dealt into ``n_folds`` groups.

    With ``n_folds`` equal to the number of subjects this is leave-one-subject-out
    (in another order); fewer folds trade granularity for time on a CPU.

    Yields
    ------
    train_indices, test_indices : ndarray of int
    """
    subjects = np.asarray(subjects)
    unique = np.unique(subjects)
    if not 2 <= n_folds <= len(unique):
        raise ValueError(f"n_folds must be between 2 and the number of subjects ({len(unique)}), got {n_folds}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(unique)
    for k in range(n_folds):
        held = order[k::n_folds]
        mask = np.isin(subjects, held)
        yield np.flatnonzero(~mask), np.flatnonzero(mask)


def paper_split(labels, test_fraction=0.2, seed=0):
    """The paper's protocol: a stratified random split of the clips, 80% train and 20% test.

    Caveat: it ignores subjects, so one subject's clips land on both sides.

    Returns
    -------
    train_indices, test_indices : ndarray of int
    """
    labels = np.asarray(labels)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = max(int(round(test_fraction * len(idx))), 1) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def validation_split(train_indices, labels, subjects=None, fraction=0.15, seed=0):
    """Carve a validation set out of a training fold (never out of the test fold).

    With ``subjects`` given, whole subjects are held out; otherwise a
    stratified fraction of the clips.

    Returns
    -------
    fit_indices, validation_indices : ndarray of int
        A partition of ``train_indices``.
    """
    train_indices = np.asarray(train_indices)
    rng = np.random.default_rng(seed)
    if subjects is not None:
        subj = np.asarray(subjects)[train_indices]
        unique = rng.permutation(np.unique(subj))
        n_val = max(int(round(fraction * len(unique))), 1)
        mask = np.isin(subj, unique[:n_val])
        return train_indices[~mask], train_indices[mask]
    fit, val = paper_split(np.asarray(labels)[train_indices], fraction, seed)
    return train_indices[fit], train_indices[val]


def plot_confusion(cm, class_names, ax=None, title=None, normalize=True):
    """Draw a confusion matrix (rows: true class; normalised by row by default).

    Parameters
    ----------
    cm : ndarray, shape (K, K)
    class_names : list of str
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    normalize : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.4))
    cm = np.asarray(cm, float)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            text = f"{shown[i, j]:.2f}\n({int(cm[i, j])})" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > 0.6 * shown.max() else "black")
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
