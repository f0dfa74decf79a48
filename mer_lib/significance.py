"""Tests and intervals over repeated runs: is one method better than another, and by how much?

Split out of :mod:`mer_lib.evaluate` (which still exports every name here):
:func:`compare_runs` (runs paired by seed and split),
:func:`corrected_resampled_ttest` (repeated random splits, whose test sets
overlap: Nadeau & Bengio's correction), :func:`mcnemar_power` (how often
McNemar's test finds a given difference), :func:`interval_over_runs` (an
interval named by what it is: the range under :data:`MIN_RUNS` runs, a
t-interval over more), :func:`compare_over_runs` (one named test per
comparison, its sign and p-value from one metric) and
:func:`paired_permutation_test` (the pooled predictions of one run).
"""

from __future__ import annotations

import math

import numpy as np

from mer_lib.evaluate import METRICS, _check_labels, _confusions, _metric_of_confusions, summarize

__all__ = ["compare_runs", "corrected_resampled_ttest", "mcnemar_power", "MIN_RUNS", "interval_over_runs",
           "compare_over_runs", "paired_permutation_test"]


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
    # Given m, the test rejects when min(b, m - b) <= k(m), the largest k with 2 P(Bin(m, 1/2) <= k) < alpha (the
    # p-value grows with min(b, m - b)); k < m / 2, so the two tails are apart. ppf gives k(m) + 1; the two checks
    # settle a rounding at the boundary.
    k = stats.binom.ppf(alpha / 2, m, 0.5).astype(int) - 1
    k = np.where(2 * stats.binom.cdf(k + 1, m, 0.5) < alpha, k + 1, k)
    k = np.where((k >= 0) & (2 * stats.binom.cdf(k, m, 0.5) >= alpha), k - 1, k)
    share = p_only_a / q
    rejected = stats.binom.cdf(k, m, share) + stats.binom.sf(m - k - 1, m, share)     # P(b <= k) + P(b >= m - k)
    return float(np.dot(stats.binom.pmf(m, n_clips, q), rejected))


#: Fewer runs than this give no interval and no verdict over runs: their range is reported, named as such.
MIN_RUNS = 5


def interval_over_runs(values, n_train=None, n_test=None, confidence=0.95, min_runs=MIN_RUNS):
    """What R scores (one per run) say about their mean, with the interval named by what it is.

    - one run: no interval over runs (``kind`` "one run"; an interval over its
      test clips is :func:`bootstrap_metric`'s);
    - fewer than ``min_runs`` runs: the runs' minimum and maximum, named "range
      of R runs" (a percentile bootstrap of 2 values gives exactly their range;
      it is not a 95% interval);
    - ``min_runs`` runs or more: a t-interval of the mean, with Nadeau and
      Bengio's correction when the runs are random train/test splits of one
      dataset (``n_train`` and ``n_test`` given: the splits overlap, see
      :func:`corrected_resampled_ttest`), plain otherwise (runs that differ by
      their training seed only).

    Parameters
    ----------
    values : array_like of float, shape (R,)
        Finite scores (a NaN score is a failed run: an error, not left out).
    n_train, n_test : int, optional
        Clips on each side of one random split (both or neither).
    confidence : float, default 0.95
    min_runs : int, default :data:`MIN_RUNS`

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd`` (NaN for one run), ``low``, ``high`` (NaN for
        one run), ``kind`` (the interval's name, e.g. "range of 2 runs" or
        "corrected t-interval over 10 random splits (95%)").

    Examples
    --------
    >>> r = interval_over_runs([0.63, 0.70])
    >>> r["kind"], r["low"], r["high"]
    ('range of 2 runs', 0.63, 0.7)
    """
    values = _finite_scores(values, "values")
    n = len(values)
    out = {"n": n, "mean": float(values.mean()), "sd": float(values.std(ddof=1)) if n > 1 else float("nan"),
           "low": float("nan"), "high": float("nan"), "kind": "one run"}
    if n == 1:
        return out
    if n < min_runs:
        out.update(low=float(values.min()), high=float(values.max()), kind=f"range of {n} runs")
        return out
    if (n_train is None) != (n_test is None):
        raise ValueError("give both n_train and n_test (random splits) or neither (runs that differ by seed)")
    if n_train is not None:
        r = corrected_resampled_ttest(values, 0.0, n_train, n_test, confidence)
        out.update(low=r["ci_low"], high=r["ci_high"],
                   kind=f"corrected t-interval over {n} random splits ({confidence:.0%})")
    else:
        from scipy import stats

        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * out["sd"] / math.sqrt(n)
        out.update(low=out["mean"] - half, high=out["mean"] + half, kind=f"t-interval over {n} runs ({confidence:.0%})")
    return out


def _finite_scores(values, name):
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of scores, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite (a NaN score is a failed run: fix it, do not average it away)")
    return values


def compare_over_runs(scores_a, scores_b, n_train=None, n_test=None, confidence=0.95, alpha=0.05,
                      min_runs=MIN_RUNS):
    """Is A better than B over runs paired by split and seed? One test, named; an interval, named; a verdict.

    The test and the interval come from the same paired differences
    ``a_r - b_r`` of one metric, so their sign and their p-value agree:

    - random train/test splits of one dataset (``n_train`` and ``n_test``
      given): Nadeau and Bengio's corrected resampled t-test
      (:func:`corrected_resampled_ttest`), its corrected t-interval;
    - runs that differ by their training seed only (the same test clips, as
      leave-one-subject-out's folds across seeds): the paired t-test over the
      runs and its t-interval (conditional on this dataset).

    With fewer than ``min_runs`` runs the interval is the range of the
    differences and the verdict is "too few runs to decide", whatever the
    p-value: a variance estimated from so few runs is not worth a verdict
    (with 2 runs, an exact sign-flip test cannot go below p = 0.5).

    Parameters
    ----------
    scores_a, scores_b : array_like of float, shape (R,)
    n_train, n_test : int, optional
        Clips on each side of one random split.
    confidence : float, default 0.95
    alpha : float, default 0.05
    min_runs : int, default :data:`MIN_RUNS`

    Returns
    -------
    dict
        ``n``, ``mean_difference``, ``sd_difference``, ``low``, ``high``,
        ``interval`` (its name), ``test`` (the test's name), ``p_value`` (NaN
        for one run), ``decided`` (enough runs for a verdict), ``verdict``: "a
        better", "b better", "no difference beyond chance" or "too few runs to
        decide".

    Examples
    --------
    >>> r = compare_over_runs([0.70, 0.63], [0.29, 0.22], n_train=131, n_test=33)
    >>> r["interval"], r["verdict"]
    ('range of 2 runs', 'too few runs to decide')
    """
    a = _finite_scores(scores_a, "scores_a")
    b = _finite_scores(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"scores_a and scores_b must be paired runs of the same length, got {a.shape} and {b.shape}")
    n = len(a)
    iv = interval_over_runs(a - b, n_train, n_test, confidence, min_runs)
    out = {"n": n, "mean_difference": iv["mean"], "sd_difference": iv["sd"], "low": iv["low"], "high": iv["high"],
           "interval": iv["kind"], "test": "none (one run)", "p_value": float("nan"), "decided": False}
    if n >= 2:
        if n_train is not None:
            r = corrected_resampled_ttest(a, b, n_train, n_test, confidence)
            out["test"] = f"corrected resampled t-test (Nadeau & Bengio) over {n} random splits"
        else:
            r = _paired_t(a, b)
            out["test"] = f"paired t-test over {n} runs"
        out["p_value"] = float(r["p_value"])
    out["decided"] = n >= min_runs
    if not out["decided"]:
        out["verdict"] = "too few runs to decide"
    elif out["p_value"] < alpha:
        out["verdict"] = "a better" if out["mean_difference"] > 0 else "b better"
    else:
        out["verdict"] = "no difference beyond chance"
    return out


def _paired_t(a, b):
    """The plain paired t-test (a zero spread of the differences: p 1 for a zero mean, else 0)."""
    from scipy import stats

    d = a - b
    sd = float(d.std(ddof=1))
    if sd == 0:
        return {"p_value": 1.0 if d.mean() == 0 else 0.0}
    t = float(d.mean()) / (sd / math.sqrt(len(d)))
    return {"p_value": float(2 * stats.t.sf(abs(t), len(d) - 1))}


def _batched_metric(y_true, preds, k, metric):
    """``metric`` of each row of ``preds`` (P, N) against one ``y_true`` (N,), from batched confusion matrices."""
    return _metric_of_confusions(_confusions(np.broadcast_to(y_true, preds.shape), preds, k), metric)


def paired_permutation_test(y_true, pred_a, pred_b, metric="uf1", n_classes=None, n_permutations=10_000, seed=0):
    """Two classifiers on the same test clips: a paired randomisation test of a metric's difference.

    Under the null hypothesis the two classifiers are exchangeable on each
    clip: swapping A's and B's predictions of any clip is as likely as not.
    Each of ``n_permutations`` resamples swaps every clip's pair with
    probability 1/2 and recomputes ``metric(A) - metric(B)`` (approximate
    randomisation, Noreen 1989; Yeh 2000 for F-scores, which, unlike accuracy,
    are not sums over clips and so have no McNemar). It conditions on the two
    trained models: it says whether *these two models* differ on *these
    clips*, not whether the methods would with another training run.

    Parameters
    ----------
    y_true, pred_a, pred_b : array_like of int, shape (N,)
    metric : {"uf1", "uar", "accuracy"}
    n_classes : int, optional
    n_permutations : int, default 10000
    seed : int

    Returns
    -------
    dict
        ``difference`` (observed, A minus B), ``p_value`` (two-sided,
        ``(1 + #{|d*| >= |d|}) / (1 + n_permutations)``; 1 when A and B agree on
        every clip), ``n_permutations``, ``metric``.

    Examples
    --------
    >>> y = np.array([0, 1, 2] * 6)
    >>> r = paired_permutation_test(y, y, (y + 1) % 3, "uf1")
    >>> round(r["difference"], 2), r["p_value"] < 1e-3
    (1.0, True)
    """
    y_true, pred_a, k = _check_labels(y_true, pred_a, n_classes)
    _, pred_b, _ = _check_labels(y_true, pred_b, k)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, got {metric!r}")
    if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 100:
        raise ValueError(f"n_permutations must be an integer >= 100, got {n_permutations!r}")
    observed = float(_batched_metric(y_true, np.stack([pred_a, pred_b]), k, metric) @ [1.0, -1.0])
    if np.array_equal(pred_a, pred_b):
        return {"difference": observed, "p_value": 1.0, "n_permutations": int(n_permutations), "metric": metric}
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < n_permutations:            # in blocks: memory stays small for long test sets
        m = min(2000, n_permutations - done)
        swap = rng.random((m, len(y_true))) < 0.5
        a = np.where(swap, pred_b, pred_a)
        b = np.where(swap, pred_a, pred_b)
        d = _batched_metric(y_true, a, k, metric) - _batched_metric(y_true, b, k, metric)
        count += int(np.sum(np.abs(d) >= abs(observed) - 1e-12))
        done += m
    return {"difference": observed, "p_value": (1 + count) / (1 + n_permutations),
            "n_permutations": int(n_permutations), "metric": metric}
