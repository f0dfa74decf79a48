import numpy as np
import pytest

from mer_lib import evaluate


def test_uf1_and_uar_against_a_confusion_matrix_computed_by_hand():
    # true:      0 0 0 0 1 1 1 2 2 2
    # predicted: 0 0 1 2 1 1 0 2 1 2
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 1, 0, 2, 1, 2])
    cm = evaluate.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, [[2, 1, 1], [1, 2, 0], [0, 1, 2]])
    # class 0: TP 2, FP 1, FN 2 -> F1 4/7; class 1: TP 2, FP 2, FN 1 -> 4/7; class 2: TP 2, FP 1, FN 1 -> 4/6
    assert evaluate.uf1(y_true, y_pred) == pytest.approx((4 / 7 + 4 / 7 + 4 / 6) / 3)
    # recalls 2/4, 2/3, 2/3
    assert evaluate.uar(y_true, y_pred) == pytest.approx((2 / 4 + 2 / 3 + 2 / 3) / 3)
    assert evaluate.accuracy(y_true, y_pred) == pytest.approx(0.6)
    np.testing.assert_allclose(evaluate.per_class_recall(y_true, y_pred), [0.5, 2 / 3, 2 / 3])


def test_uf1_pools_counts_over_folds():
    # two folds whose own F1 averages differ from the pooled UF1: MEGC pools TP/FP/FN first
    fold_a = (np.array([0, 0, 1]), np.array([0, 1, 1]))
    fold_b = (np.array([2, 2, 1, 0]), np.array([2, 0, 1, 0]))
    pooled_true = np.concatenate([fold_a[0], fold_b[0]])
    pooled_pred = np.concatenate([fold_a[1], fold_b[1]])
    pooled = evaluate.uf1(pooled_true, pooled_pred, 3)
    cm = evaluate.confusion_matrix(fold_a[0], fold_a[1], 3) + evaluate.confusion_matrix(fold_b[0], fold_b[1], 3)
    tp = np.diag(cm)
    f1 = 2 * tp / (2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp))
    assert pooled == pytest.approx(f1.mean())


def test_a_classifier_that_never_predicts_the_rare_class_is_found_out():
    y_true = np.array([0] * 45 + [1] * 45 + [2] * 10)
    y_pred = np.where(y_true == 2, 0, y_true)
    assert evaluate.accuracy(y_true, y_pred) == 0.9
    assert evaluate.uar(y_true, y_pred) == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad", [(np.array([0, 1]), np.array([0])), (np.array([]), np.array([])),
                                 (np.array([0.5, 1.0]), np.array([0, 1]))])
def test_bad_labels_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        evaluate.uf1(*bad)


# --- statistics over repeated runs -------------------------------------------------------------------------------

def test_summarize_gives_mean_sd_and_a_bootstrap_interval_computed_by_hand():
    values = np.array([0.5, 0.6, 0.7, 0.9])
    s = evaluate.summarize(values, n_boot=1000, seed=3)
    assert s["n"] == 4 and s["mean"] == pytest.approx(0.675)
    assert s["sd"] == pytest.approx(np.sqrt(np.sum((values - 0.675) ** 2) / 3))
    rng = np.random.default_rng(3)                       # the same resamples, by hand
    means = values[rng.integers(0, 4, size=(1000, 4))].mean(axis=1)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert s["ci_low"] < s["mean"] < s["ci_high"]
    one = evaluate.summarize([0.4])
    assert one["mean"] == 0.4 and np.isnan(one["sd"]) and np.isnan(one["ci_low"])
    with pytest.raises(ValueError, match="finite"):
        evaluate.summarize([0.5, np.nan])
    with pytest.raises(ValueError, match="confidence"):
        evaluate.summarize(values, confidence=95)


def test_mcnemar_on_known_tables():
    y = np.zeros(12, int)
    a = np.array([0] * 10 + [1] * 2)          # right on 10 clips where b is wrong; wrong on 2 where b is right
    b = np.array([1] * 10 + [0] * 2)
    r = evaluate.mcnemar(y, a, b)
    assert (r["b"], r["c"], r["exact"]) == (10, 2, True)
    assert r["p_value"] == pytest.approx(2 * (1 + 12 + 66) / 4096)      # 2 P(X <= 2), X ~ Bin(12, 1/2)
    y = np.zeros(40, int)
    a = np.array([0] * 30 + [1] * 10)
    b = 1 - a
    r = evaluate.mcnemar(y, a, b)
    assert not r["exact"] and r["statistic"] == pytest.approx((20 - 1) ** 2 / 40)
    from scipy import stats
    assert r["p_value"] == pytest.approx(stats.chi2.sf(9.025, 1))
    assert evaluate.mcnemar(y, a, a)["p_value"] == 1.0


def test_compare_runs_is_an_exact_sign_flip_test():
    a = [0.6, 0.7, 0.65, 0.7, 0.62]
    b = [0.5, 0.55, 0.6, 0.6, 0.5]
    r = evaluate.compare_runs(a, b)
    # all five differences positive: only the all-plus and all-minus patterns are as extreme, 2 of 32
    assert r["p_value"] == pytest.approx(2 / 32)
    assert r["mean_difference"] == pytest.approx(np.mean(np.subtract(a, b)))
    same = evaluate.compare_runs(a, a)
    assert same["p_value"] == 1.0 and same["mean_difference"] == 0
    with pytest.raises(ValueError, match="paired"):
        evaluate.compare_runs([0.5, 0.6], [0.5])


@pytest.mark.parametrize("metric", ["accuracy", "uf1", "uar"])
def test_the_bootstraps_of_named_metrics_are_those_of_one_call_per_resample(metric):
    """The named metrics are computed on all resamples at once: the same values as the metric called on each resample
    drawn one after another (a class missing from some resamples included: 2 clips of class 3)."""
    rng = np.random.default_rng(4)
    y = np.r_[rng.integers(0, 3, 31), 3, 3]
    a, b = rng.integers(0, 4, 33), rng.integers(0, 4, 33)
    fn = evaluate.METRICS[metric]

    def one_by_one(statistic):
        draw = np.random.default_rng(5)
        return np.array([statistic(draw.integers(0, 33, 33)) for _ in range(300)])

    boots = one_by_one(lambda i: fn(y[i], a[i], 4))
    diffs = one_by_one(lambda i: fn(y[i], a[i], 4) - fn(y[i], b[i], 4))
    tail = (1 - 0.95) / 2                      # as the functions compute it
    assert boots.std() > 0
    got = evaluate.bootstrap_metric(y, a, metric, 4, n_boot=300, seed=5)
    assert (got["ci_low"], got["ci_high"]) == tuple(np.quantile(boots, [tail, 1 - tail]))
    paired = evaluate.paired_bootstrap(y, a, b, metric, 4, n_boot=300, seed=5)
    assert (paired["ci_low"], paired["ci_high"]) == tuple(np.quantile(diffs, [tail, 1 - tail]))
    assert paired["p_value"] == min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    # and a callable metric still gets one call per resample
    assert evaluate.bootstrap_metric(y, a, lambda t, p, k: fn(t, p, k), 4, n_boot=300, seed=5) == got


def test_paired_bootstrap_separates_a_real_difference_from_none():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    good = np.where(rng.random(60) < 0.9, y, (y + 1) % 3)
    bad = np.where(rng.random(60) < 0.4, y, (y + 1) % 3)
    r = evaluate.paired_bootstrap(y, good, bad, "accuracy", n_boot=1000)
    assert r["difference"] == pytest.approx(np.mean(good == y) - np.mean(bad == y))
    assert r["ci_low"] > 0 and r["p_value"] < 0.01
    r = evaluate.paired_bootstrap(y, good, good, "uf1", n_boot=1000)
    assert r["difference"] == 0 and r["p_value"] == 1.0
    b = evaluate.bootstrap_metric(y, bad, "accuracy", n_boot=500)
    assert b["ci_low"] <= b["value"] <= b["ci_high"]
    with pytest.raises(ValueError, match="metric"):
        evaluate.bootstrap_metric(y, bad, "f2")


def test_corrected_resampled_ttest_against_a_hand_computation():
    a, b = [0.60, 0.70, 0.65, 0.75], [0.50, 0.55, 0.60, 0.60]
    # d = 0.10, 0.15, 0.05, 0.15: mean 0.1125, squared deviations sum to 0.006875, s^2 = 0.006875 / 3
    s2 = 0.006875 / 3
    t = 0.1125 / np.sqrt((1 / 4 + 33 / 131) * s2)
    r = evaluate.corrected_resampled_ttest(a, b, n_train=131, n_test=33)
    assert r["t"] == pytest.approx(t) and r["df"] == 3
    from scipy import stats

    assert r["p_value"] == pytest.approx(2 * stats.t.sf(t, 3))
    half = stats.t.ppf(0.975, 3) * np.sqrt((1 / 4 + 33 / 131) * s2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.1125 - half, 0.1125 + half))
    assert r["p_value"] > r["uncorrected_p"]          # the correction makes the test less confident


def test_corrected_test_without_overlap_is_scipys_paired_t_test():
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.random(12), rng.random(12)
    r = evaluate.corrected_resampled_ttest(a, b, n_train=10 ** 12, n_test=1)
    ref = stats.ttest_rel(a, b)
    assert r["t"] == pytest.approx(ref.statistic, rel=1e-6) and r["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    assert r["uncorrected_p"] == pytest.approx(ref.pvalue)


def test_corrected_test_against_a_number_and_its_refusals():
    from mer_lib.errors import UserInputError

    r = evaluate.corrected_resampled_ttest([0.5, 0.6, 0.7], 0.0, 80, 20)
    assert r["mean_difference"] == pytest.approx(0.6) and r["ci_low"] < 0.6 < r["ci_high"]
    same = evaluate.corrected_resampled_ttest([0.5, 0.5], [0.5, 0.5], 80, 20)
    assert same["p_value"] == 1.0 and same["t"] == 0.0
    for args, match in [(([0.5], [0.4], 80, 20), "scores_a"), (([0.5, 0.6], [0.4], 80, 20), "scores_b"),
                        (([0.5, 0.6], [0.4, np.nan], 80, 20), "finite"), (([0.5, 0.6], 0.4, 0, 20), "n_train")]:
        with pytest.raises(UserInputError, match=match):
            evaluate.corrected_resampled_ttest(*args)


def test_mcnemar_power_equals_the_rejection_rate_of_simulated_test_sets():
    rng = np.random.default_rng(1)
    for n, pa, pb in [(33, 0.20, 0.10), (80, 0.15, 0.10)]:
        draws = 3000
        kind = rng.choice(3, size=(draws, n), p=[pa, pb, 1 - pa - pb])     # only A right, only B right, agree
        y = np.zeros(n, int)
        rejected = np.mean([evaluate.mcnemar(y, np.where(k == 1, 1, 0), np.where(k == 0, 1, 0), exact=True)["p_value"]
                            < 0.05 for k in kind])
        power = evaluate.mcnemar_power(n, pa, pb)
        assert abs(rejected - power) < 4 * np.sqrt(power * (1 - power) / draws) + 1e-3, (n, rejected, power)


@pytest.mark.parametrize("n, pa, pb, alpha", [(33, 0.20, 0.10, 0.05), (120, 0.05, 0.25, 0.05), (60, 0.3, 0.3, 0.01),
                                              (25, 0.0, 0.4, 0.05), (40, 0.5, 0.5, 0.2)])
def test_mcnemar_power_is_the_sum_over_every_outcome_the_exact_test_rejects(n, pa, pb, alpha):
    """The power by its definition: every (discordant clips m, A's share b) weighted by its probability, kept when
    McNemar's exact two-sided p-value is below alpha (the library sums two binomial tails per m instead)."""
    from scipy import stats

    q = pa + pb
    total = 0.0
    for m in range(n + 1):
        b = np.arange(m + 1)
        p_values = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, m - b), m, 0.5))
        total += stats.binom.pmf(m, n, q) * stats.binom.pmf(b[p_values < alpha], m, pa / q).sum()
    assert evaluate.mcnemar_power(n, pa, pb, alpha) == pytest.approx(total, abs=1e-12)


def test_mcnemar_power_is_at_most_alpha_without_a_difference_and_grows_with_the_test_set():
    assert evaluate.mcnemar_power(40, 0.1, 0.1) <= 0.05
    assert evaluate.mcnemar_power(50, 0.0, 0.0) == 0.0
    # every clip discordant and won by A: 5 of 5 gives p = 2 / 32 = 0.0625, never below 0.05; 6 of 6 gives 2 / 64
    assert evaluate.mcnemar_power(5, 1.0, 0.0) == 0.0 and evaluate.mcnemar_power(6, 1.0, 0.0) == pytest.approx(1.0)
    assert evaluate.mcnemar_power(33, 0.2, 0.1) < evaluate.mcnemar_power(100, 0.2, 0.1) < evaluate.mcnemar_power(300, 0.2, 0.1)


def test_an_interval_over_fewer_than_5_runs_is_their_range_and_says_so():
    r = evaluate.interval_over_runs([0.700, 0.630])
    assert r["kind"] == "range of 2 runs" and (r["low"], r["high"]) == (0.630, 0.700)
    assert "95%" not in r["kind"]
    one = evaluate.interval_over_runs([0.5])
    assert one["kind"] == "one run" and np.isnan(one["low"]) and np.isnan(one["sd"])
    with pytest.raises(ValueError, match="finite"):
        evaluate.interval_over_runs([0.5, np.nan])


def test_an_interval_over_5_runs_or_more_is_a_t_interval_computed_by_hand():
    from scipy import stats

    v = np.array([0.60, 0.70, 0.65, 0.75, 0.55])
    mean, sd = 0.65, np.sqrt(np.sum((v - 0.65) ** 2) / 4)          # sd = 0.0790569...
    half = stats.t.ppf(0.975, 4) * sd / np.sqrt(5)                   # 2.776445 * 0.0353553 = 0.0981622
    r = evaluate.interval_over_runs(v)
    assert r["kind"] == "t-interval over 5 runs (95%)"
    assert (r["low"], r["high"]) == pytest.approx((mean - 0.0981622, mean + 0.0981622), abs=2e-7)
    assert half == pytest.approx(0.0981622, abs=2e-7)
    # random splits of 131 / 33 clips: Nadeau and Bengio's factor 1/5 + 33/131 instead of 1/5
    c = evaluate.interval_over_runs(v, n_train=131, n_test=33)
    half_c = stats.t.ppf(0.975, 4) * sd * np.sqrt(1 / 5 + 33 / 131)
    assert c["kind"] == "corrected t-interval over 5 random splits (95%)"
    assert (c["low"], c["high"]) == pytest.approx((mean - half_c, mean + half_c))
    assert c["high"] - c["low"] > r["high"] - r["low"]
    with pytest.raises(ValueError, match="both n_train and n_test"):
        evaluate.interval_over_runs(v, n_train=131)


def test_a_comparison_over_runs_names_its_test_and_takes_sign_and_p_from_one_metric():
    from scipy import stats

    a = np.array([0.70, 0.66, 0.72, 0.69, 0.71, 0.65])
    b = np.array([0.60, 0.61, 0.58, 0.66, 0.62, 0.57])
    d = a - b
    r = evaluate.compare_over_runs(a, b, n_train=131, n_test=33)
    t = d.mean() / np.sqrt((1 / 6 + 33 / 131) * d.var(ddof=1))
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 5))
    assert r["test"] == "corrected resampled t-test (Nadeau & Bengio) over 6 random splits"
    assert r["interval"] == "corrected t-interval over 6 random splits (95%)" and r["low"] < d.mean() < r["high"]
    assert r["decided"] and r["verdict"] == ("a better" if r["p_value"] < 0.05 else "no difference beyond chance")
    swapped = evaluate.compare_over_runs(b, a, n_train=131, n_test=33)
    assert swapped["p_value"] == pytest.approx(r["p_value"]) and swapped["mean_difference"] == pytest.approx(-d.mean())
    assert swapped["verdict"] == {"a better": "b better"}.get(r["verdict"], r["verdict"])
    seeds = evaluate.compare_over_runs(a, b)            # runs that differ by seed only: the plain paired t-test
    assert seeds["test"] == "paired t-test over 6 runs"
    assert seeds["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_two_runs_cannot_decide_whatever_their_p_value():
    # the full run's two-stream network against CNN_RNN, stable recipe: differences 0.406 and 0.412
    r = evaluate.compare_over_runs([0.700, 0.630], [0.294, 0.219], n_train=131, n_test=33)
    assert r["n"] == 2 and not r["decided"] and r["verdict"] == "too few runs to decide"
    assert r["interval"] == "range of 2 runs" and (r["low"], r["high"]) == pytest.approx((0.406, 0.411))
    assert 0 <= r["p_value"] <= 1                       # computed and kept, but no verdict rests on it
    one = evaluate.compare_over_runs([0.7], [0.3])
    assert one["test"] == "none (one run)" and np.isnan(one["p_value"]) and one["verdict"] == "too few runs to decide"


def test_the_paired_permutation_test_on_known_predictions():
    y = np.array([0, 1, 2] * 10)
    same = evaluate.paired_permutation_test(y, y, y.copy())
    assert same["difference"] == 0 and same["p_value"] == 1.0
    # A right everywhere, B right on the first half only: 15 discordant clips, all for A
    b = np.where(np.arange(30) < 15, y, (y + 1) % 3)
    r = evaluate.paired_permutation_test(y, y, b, "accuracy", n_permutations=20_000, seed=1)
    assert r["difference"] == pytest.approx(0.5)
    # for accuracy the randomisation null is McNemar's: P(|Binomial(15, 1/2) - 7.5| >= 7.5) = 2 / 2^15
    assert r["p_value"] == pytest.approx((1 + 20_000 * 2 / 2 ** 15) / 20_001, abs=2e-4)
    uf1 = evaluate.paired_permutation_test(y, y, b, "uf1")
    assert uf1["difference"] == pytest.approx(evaluate.uf1(y, y) - evaluate.uf1(y, b)) and uf1["p_value"] < 0.01
    swapped = evaluate.paired_permutation_test(y, b, y, "uf1")
    assert swapped["difference"] == pytest.approx(-uf1["difference"]) and swapped["p_value"] == uf1["p_value"]


def test_the_batched_metrics_equal_the_definitions():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 40)
    preds = rng.integers(0, 3, (25, 40))
    for metric in ("uf1", "uar", "accuracy"):
        batched = evaluate._batched_metric(y, preds, 3, metric)
        one = [evaluate.METRICS[metric](y, p, 3) for p in preds]
        np.testing.assert_allclose(batched, one)


def test_a_nan_score_on_a_resample_is_an_error_not_left_out_of_the_interval():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    nan_sometimes = lambda t, p, k=None: float("nan") if t[0] == 0 else float(np.mean(t == p))  # noqa: E731
    with pytest.raises(ValueError, match="NaN on"):
        evaluate.bootstrap_metric(y, y, nan_sometimes, n_boot=200)
    with pytest.raises(ValueError, match="NaN on"):
        evaluate.paired_bootstrap(y, y, y, nan_sometimes, n_boot=200)
