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
:func:`compare_runs` (runs paired by seed and split), :func:`paired_bootstrap`
and :func:`mcnemar` (the same test clips, two classifiers) whether a
difference between two rows of a table is larger than chance.
:func:`corrected_resampled_ttest` compares two methods over repeated random
splits, whose test sets overlap (Nadeau & Bengio's correction), and
:func:`mcnemar_power` says how often McNemar's test would find a given
difference on a test set of a given size.
"""

from __future__ import annotations

import math

import numpy as np

# the splitting protocols, upstream of training (mer_lib.splits), importable here as before
from mer_lib.splits import loso_splits, paper_split, subject_folds, validation_split  # noqa: F401

__all__ = ["confusion_matrix", "accuracy", "per_class_recall", "macro_f1", "uf1", "uar", "scores", "plot_confusion",
           "METRICS",
           "summarize", "bootstrap_metric", "paired_bootstrap", "mcnemar", "compare_runs",
           "corrected_resampled_ttest", "mcnemar_power"]


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


def _over_resampled_clips(n, n_boot, seed, statistic):
    """``statistic(index)`` on ``n_boot`` resamples of ``range(n)`` with replacement."""
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)])


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
    boots = _over_resampled_clips(len(y_true), n_boot, seed, lambda idx: fn(y_true[idx], y_pred[idx], k))
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
    diffs = _over_resampled_clips(len(y_true), n_boot, seed,
                                  lambda idx: fn(y_true[idx], pred_a[idx], k) - fn(y_true[idx], pred_b[idx], k))
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


def compare_runs(scores_a, scores_b, confidence=0.95, n_boot=10_000, seed=0):
    """Compare two rows of a table over runs paired by seed and split.

    Run i of A and run i of B must share their split and seed; the paired
    differences ``a_i - b_i`` remove what the split does to both.

    Parameters
    ----------
    scores_a, scores_b : array_like of float, shape (R,)
    confidence : float
    n_boot : int
        Bootstrap resamples of the paired differences (for the interval).
    seed : int

    Returns
    -------
    dict
        ``n``, ``mean_difference``, ``sd_difference``, ``ci_low``, ``ci_high``
        (bootstrap interval of the mean difference), and ``p_value``: an exact
        two-sided sign-flip permutation test of the mean difference (all 2^R
        sign patterns up to R = 16, else 20,000 random ones).

    Examples
    --------
    >>> r = compare_runs([0.6, 0.7, 0.65, 0.7, 0.62], [0.5, 0.55, 0.6, 0.6, 0.5])
    >>> round(r["mean_difference"], 3), r["p_value"]
    (0.104, 0.0625)
    """
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"scores_a and scores_b must be 1-D of the same length (paired runs), got {a.shape} and {b.shape}")
    d = a - b
    s = summarize(d, confidence, n_boot, seed)
    n = len(d)
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(20_000, n))
    null = np.abs((signs * d).mean(axis=1))
    p = float(np.mean(null >= abs(d.mean()) - 1e-12))
    return {"n": n, "mean_difference": s["mean"], "sd_difference": s["sd"], "ci_low": s["ci_low"],
            "ci_high": s["ci_high"], "p_value": p}


def corrected_resampled_ttest(scores_a, scores_b, n_train, n_test, confidence=0.95):
    """Nadeau and Bengio's corrected resampled t-test over J random train/test splits.

    Run j of A and run j of B share their split; ``d_j = a_j - b_j``. The
    splits of repeated random resampling overlap, so the d_j are correlated
    and the plain paired t-test (variance ``s^2 / J``) is far too confident.
    Nadeau and Bengio (2003) replace ``1 / J`` by ``1 / J + n_test / n_train``:

        t = mean(d) / sqrt((1 / J + n_test / n_train) s^2),   J - 1 degrees of freedom,

    with ``s^2`` the sample variance of the d_j (denominator J - 1).

    Parameters
    ----------
    scores_a : array_like of float, shape (J,)
        A's score on each split.
    scores_b : array_like of float, shape (J,), or float
        B's score on the same splits; a number compares A with a fixed value
        (0 gives the corrected interval of A's mean, 1/3 compares it with
        chance on three balanced classes).
    n_train, n_test : int
        Clips on each side of one split (their ratio is the correction).
    confidence : float, default 0.95
        Of the interval.

    Returns
    -------
    dict
        ``n`` (J), ``mean_difference``, ``sd_difference``, ``t``, ``df``,
        ``p_value`` (two-sided), ``ci_low``, ``ci_high`` (the corrected
        t-interval of the mean difference), ``uncorrected_p`` (the plain
        paired t-test, for contrast).

    References
    ----------
    C. Nadeau and Y. Bengio, "Inference for the generalization error",
    Machine Learning 52(3), 239-281, 2003.

    Examples
    --------
    >>> r = corrected_resampled_ttest([0.60, 0.70, 0.65, 0.75], [0.50, 0.55, 0.60, 0.60], n_train=131, n_test=33)
    >>> round(r["t"], 3), r["df"], round(r["p_value"], 3), round(r["uncorrected_p"], 3)
    (3.317, 3, 0.045, 0.018)
    """
    from scipy import stats

    from mer_lib.errors import UserInputError

    a = np.asarray(scores_a, dtype=float)
    if a.ndim != 1 or len(a) < 2:
        raise UserInputError(f"scores_a: expected at least 2 scores (one per split), got shape {a.shape}")
    b = np.broadcast_to(np.asarray(scores_b, dtype=float), a.shape) if np.ndim(scores_b) == 0 \
        else np.asarray(scores_b, dtype=float)
    if b.shape != a.shape:
        raise UserInputError(f"scores_b: expected {len(a)} scores paired with scores_a (or one number), "
                             f"got shape {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise UserInputError("scores_a, scores_b: expected finite scores (a NaN score is a failed run)")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{name}: expected a positive number of clips, got {value!r}")
    if not 0 < confidence < 1:
        raise UserInputError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    d = a - b
    j = len(d)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    df = j - 1
    crit = float(stats.t.ppf(0.5 + confidence / 2, df))

    def test(factor):
        se = math.sqrt(factor) * sd
        if se == 0:
            return (0.0 if mean == 0 else math.copysign(math.inf, mean)), (1.0 if mean == 0 else 0.0), se
        t = mean / se
        return t, float(2 * stats.t.sf(abs(t), df)), se

    t, p, se = test(1 / j + n_test / n_train)
    _, p_plain, _ = test(1 / j)
    return {"n": j, "mean_difference": mean, "sd_difference": sd, "t": float(t), "df": df, "p_value": p,
            "ci_low": mean - crit * se, "ci_high": mean + crit * se, "uncorrected_p": p_plain}


def mcnemar_power(n_clips, p_only_a, p_only_b, alpha=0.05):
    """The probability that McNemar's exact test finds a difference between two classifiers.

    Each of ``n_clips`` test clips is, independently, one that only A gets
    right (probability ``p_only_a``), one that only B gets right
    (``p_only_b``), or one on which they agree. The number of discordant
    clips m is Binomial(n, p_only_a + p_only_b) and, given m, A's share b is
    Binomial(m, p_only_a / (p_only_a + p_only_b)); the exact two-sided test
    (:func:`mcnemar`) rejects when its p-value is below ``alpha``. The power
    sums the probability of every (m, b) it rejects. The accuracy difference
    is ``p_only_a - p_only_b``.

    Parameters
    ----------
    n_clips : int
        Test clips (N).
    p_only_a, p_only_b : float
        Probabilities of the two kinds of discordant clip (their sum at most 1).
    alpha : float, default 0.05
        The test's level.

    Returns
    -------
    float
        The power, in [0, 1] (the test's size when ``p_only_a == p_only_b``).

    Examples
    --------
    >>> round(mcnemar_power(33, 0.20, 0.10), 3), round(mcnemar_power(330, 0.20, 0.10), 3)
    (0.104, 0.905)
    """
    from scipy import stats

    from mer_lib.errors import UserInputError

    if not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise UserInputError(f"n_clips: expected a positive number of test clips, got {n_clips!r}")
    if not (0 <= p_only_a <= 1 and 0 <= p_only_b <= 1 and p_only_a + p_only_b <= 1):
        raise UserInputError(f"p_only_a, p_only_b: expected probabilities summing to at most 1, got "
                             f"{p_only_a!r} and {p_only_b!r}")
    if not 0 < alpha < 1:
        raise UserInputError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    q = p_only_a + p_only_b
    if q == 0:
        return 0.0
    # the counts of discordant clips that carry any weight (the rest sum to under 1e-12)
    low = max(1, int(stats.binom.ppf(1e-13, n_clips, q)))
    high = min(n_clips, int(stats.binom.isf(1e-13, n_clips, q)) + 1)
    m = np.arange(low, high + 1)
    power = 0.0
    share = p_only_a / q
    for mm, weight in zip(m, stats.binom.pmf(m, n_clips, q)):
        b = np.arange(mm + 1)
        p_values = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, mm - b), mm, 0.5))
        power += weight * float(stats.binom.pmf(b[p_values < alpha], mm, share).sum())
    return float(power)
