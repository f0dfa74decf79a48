"""Honest evaluation: MEGC metrics (UF1, UAR), confusion matrices, intervals and paired tests.

The protocols that split clips into training and test sides (the paper's
80/20 split, leave-one-subject-out, subject-disjoint folds, a validation set
carved out of a training fold) come before training and live in
:mod:`mer_lib.splits`; their names are importable from here too.

Scores are distributions. With 33 test clips one standard error of an accuracy
is about 0.085, as large as the differences the paper's tables report, so a
single run says little. :func:`summarize` gives the mean, standard deviation
and a 95% bootstrap interval of a score over repeated runs;
:func:`bootstrap_metric` the interval of one run's score over its test clips;
:func:`paired_bootstrap` and :func:`mcnemar` (the same test clips, two
classifiers) whether a difference between two rows of a table is larger than
chance. The tests over repeated runs (:func:`compare_runs`,
:func:`corrected_resampled_ttest`, :func:`mcnemar_power`,
:func:`interval_over_runs`, :func:`compare_over_runs`,
:func:`paired_permutation_test`) are in :mod:`mer_lib.significance` and
importable from here.
"""

from __future__ import annotations

import numpy as np

# the splitting protocols, upstream of training (mer_lib.splits), importable here as before
from mer_lib.splits import loso_splits, paper_split, subject_folds, validation_split  # noqa: F401

__all__ = ["confusion_matrix", "accuracy", "per_class_recall", "macro_f1", "uf1", "uar", "scores", "plot_confusion",
           "METRICS",
           "summarize", "bootstrap_metric", "paired_bootstrap", "mcnemar", "compare_runs",
           "corrected_resampled_ttest", "mcnemar_power", "MIN_RUNS", "interval_over_runs", "compare_over_runs",
           "paired_permutation_test"]


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


def plot_confusion(cm, class_names, ax=None, title=None, normalize=True):
    """Draw a confusion matrix (rows: true class; normalised by row by default).

    Parameters
    ----------
    cm : ndarray, shape (K, K)
    class_names : list of str
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new pyplot figure (shown by a notebook).
    title : str, optional
    normalize : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

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


#: The scores of a table by name: ``metric(y_true, y_pred, n_classes)``.
METRICS = {"accuracy": lambda t, p, k=None: accuracy(t, p), "uf1": uf1, "uar": uar}


def _metric(metric):
    if callable(metric):
        return metric
    if metric not in METRICS:
        raise ValueError(f"metric must be a callable or one of {tuple(METRICS)}, got {metric!r}")
    return METRICS[metric]


def _check_confidence(confidence, n_boot):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")


def summarize(values, confidence=0.95, n_boot=10_000, seed=0):
    """Mean, standard deviation and a percentile-bootstrap interval of the mean of repeated scores.

    Parameters
    ----------
    values : array_like of float, shape (R,)
        One score per run (different seeds or splits). NaN is an error, not
        left out.
    confidence : float, default 0.95
    n_boot : int, default 10000
        Bootstrap resamples of the runs.
    seed : int

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd`` (with R - 1 in the denominator; NaN for one
        run), ``ci_low``, ``ci_high`` (NaN for fewer than 2 runs).

    Examples
    --------
    >>> s = summarize([0.5, 0.6, 0.7])
    >>> round(s["mean"], 3), round(s["sd"], 3)
    (0.6, 0.1)
    """
    _check_confidence(confidence, n_boot)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array of scores, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite (a NaN score is a failed run: fix it, do not average it away)")
    n = len(values)
    out = {"n": n, "mean": float(values.mean()), "sd": float(values.std(ddof=1)) if n > 1 else float("nan"),
           "ci_low": float("nan"), "ci_high": float("nan")}
    if n > 1:
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        tail = (1 - confidence) / 2
        out["ci_low"], out["ci_high"] = (float(q) for q in np.quantile(means, [tail, 1 - tail]))
    return out


def _resamples(n, n_boot, seed):
    """``n_boot`` resamples of ``range(n)`` with replacement, shape (n_boot, n), drawn in one call.

    The same indices as ``n_boot`` draws of ``rng.integers(0, n, n)`` one
    after another (NumPy's generator fills the array in order).
    """
    return np.random.default_rng(seed).integers(0, n, (n_boot, n))


def _metric_on_resamples(metric, y_true, y_pred, index, k):
    """``metric(y_true[i], y_pred[i], k)`` for each row ``i`` of ``index`` (B, N): shape (B,).

    A named metric is computed on all the resamples' confusion matrices at
    once (:func:`_metric_of_confusions`: about 10 times faster than a call per
    resample, with the same values); a callable is called once per resample.
    """
    if callable(metric):
        return np.array([metric(y_true[i], y_pred[i], k) for i in index])
    return _metric_of_confusions(_confusions(y_true[index], y_pred[index], k), metric)


def _confusions(y_true, y_pred, k):
    """The confusion matrix of each row: ``y_true``, ``y_pred`` (B, N) of int -> counts (B, K, K).

    ``cm[r, i, j]`` counts the clips of row ``r`` of true class i predicted as class j.
    """
    b = len(y_true)
    codes = (np.arange(b)[:, None] * (k * k) + np.asarray(y_true, np.int64) * k + y_pred).ravel()
    return np.bincount(codes, minlength=b * k * k).reshape(b, k, k)


def _metric_of_confusions(cm, metric):
    """A named metric of each confusion matrix ``cm`` (B, K, K): shape (B,), the arithmetic of :func:`accuracy`,
    :func:`uf1` and :func:`uar` (a class absent from a row's true labels is left out of its UAR)."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(float)
    if metric == "accuracy":
        return tp.sum(axis=1) / cm.sum(axis=(1, 2))
    if metric == "uf1":
        denom = 2 * tp + (cm.sum(axis=1) - tp) + (cm.sum(axis=2) - tp)
        return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0).mean(axis=1)
    if metric == "uar":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(tp / cm.sum(axis=2), axis=1)
    raise ValueError(f"metric must be one of {tuple(METRICS)}, got {metric!r}")


def _refuse_nan(values, name):
    """A NaN score on a resample is an error (as in :func:`summarize`), never quietly left out of the interval."""
    bad = int(np.sum(np.isnan(values)))
    if bad:
        raise ValueError(f"{name}: the metric is NaN on {bad} of {len(values)} resamples of the test clips; an "
                         "interval that left them out would be narrower than the data allow")


def bootstrap_metric(y_true, y_pred, metric="uf1", n_classes=None, confidence=0.95, n_boot=2000, seed=0):
    """The score of one set of predictions with a percentile-bootstrap interval over its test clips.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
    metric : {"accuracy", "uf1", "uar"} or callable
    n_classes : int, optional
    confidence : float
    n_boot : int
    seed : int

    Returns
    -------
    dict
        ``value``, ``ci_low``, ``ci_high``.

    Raises
    ------
    ValueError
        The metric is NaN on a resample (a NaN is never left out).
    """
    _check_confidence(confidence, n_boot)
    y_true, y_pred, k = _check_labels(y_true, y_pred, n_classes)
    fn = _metric(metric)
    boots = _metric_on_resamples(metric, y_true, y_pred, _resamples(len(y_true), n_boot, seed), k)
    _refuse_nan(boots, "bootstrap_metric")
    tail = (1 - confidence) / 2
    low, high = np.quantile(boots, [tail, 1 - tail])
    return {"value": float(fn(y_true, y_pred, k)), "ci_low": float(low), "ci_high": float(high)}


def paired_bootstrap(y_true, pred_a, pred_b, metric="uf1", n_classes=None, confidence=0.95, n_boot=2000, seed=0):
    """Is classifier A better than B on the same test clips? A paired bootstrap of the score difference.

    The test clips are resampled with replacement, the same clips for both
    classifiers, and the difference ``metric(A) - metric(B)`` is recomputed on
    each resample.

    Parameters
    ----------
    y_true, pred_a, pred_b : array_like of int, shape (N,)
    metric : {"accuracy", "uf1", "uar"} or callable
    n_classes : int, optional
    confidence : float
    n_boot : int
    seed : int

    Returns
    -------
    dict
        ``difference`` (observed), ``ci_low``, ``ci_high``, and ``p_value``:
        two-sided, twice the smaller share of resampled differences on either
        side of zero (at most 1).
    """
    _check_confidence(confidence, n_boot)
    y_true, pred_a, k = _check_labels(y_true, pred_a, n_classes)
    _, pred_b, _ = _check_labels(y_true, pred_b, k)
    fn = _metric(metric)
    index = _resamples(len(y_true), n_boot, seed)
    diffs = _metric_on_resamples(metric, y_true, pred_a, index, k) - _metric_on_resamples(metric, y_true, pred_b,
                                                                                          index, k)
    _refuse_nan(diffs, "paired_bootstrap")
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"difference": float(fn(y_true, pred_a, k) - fn(y_true, pred_b, k)), "ci_low": float(low),
            "ci_high": float(high), "p_value": float(p)}


def mcnemar(y_true, pred_a, pred_b, exact=None):
    """McNemar's test: do two classifiers err on the same test clips equally often?

    Only the discordant clips count: ``b`` clips that A gets right and B
    wrong, ``c`` clips that A gets wrong and B right. Under the null
    hypothesis b ~ Binomial(b + c, 1/2).

    Parameters
    ----------
    y_true, pred_a, pred_b : array_like of int, shape (N,)
    exact : bool, optional
        The exact binomial test (default when b + c < 25) or the chi-squared
        statistic with continuity correction, ``(|b - c| - 1)^2 / (b + c)``.

    Returns
    -------
    dict
        ``b``, ``c``, ``statistic`` (chi-squared, or b for the exact test),
        ``p_value`` (two-sided; 1 when there is no discordant clip), ``exact``.

    Examples
    --------
    >>> r = mcnemar([0] * 12, [0] * 10 + [1] * 2, [1] * 10 + [0] * 2)
    >>> r["b"], r["c"], round(r["p_value"], 4)
    (10, 2, 0.0386)
    """
    from scipy import stats

    y_true, pred_a, _ = _check_labels(y_true, pred_a)
    _, pred_b, _ = _check_labels(y_true, pred_b)
    right_a, right_b = pred_a == y_true, pred_b == y_true
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    if exact is None:
        exact = b + c < 25
    if b + c == 0:
        return {"b": b, "c": c, "statistic": 0.0, "p_value": 1.0, "exact": bool(exact)}
    if exact:
        p = stats.binomtest(b, b + c, 0.5).pvalue
        return {"b": b, "c": c, "statistic": float(b), "p_value": float(min(p, 1.0)), "exact": True}
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(chi2), "p_value": float(stats.chi2.sf(chi2, 1)), "exact": False}


#: The names of :mod:`mer_lib.significance`, importable from here as before (read when first asked for, so
#: that neither module imports the other at its top).
_SIGNIFICANCE = ("compare_runs", "corrected_resampled_ttest", "mcnemar_power", "MIN_RUNS", "interval_over_runs",
                 "compare_over_runs", "paired_permutation_test", "_batched_metric", "_paired_t")


def __getattr__(name):
    if name in _SIGNIFICANCE:
        from mer_lib import significance

        return getattr(significance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
