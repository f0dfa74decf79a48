"""Exercises of chapter 15, limits and ethics (book/15_limits_and_ethics.md)."""

import math

import numpy as np

from mer_lib import evaluate
from mer_lib.exercises import Case, Exercise, register


def clips_for_half_width(accuracy, half_width, confidence=0.95):
    """Test clips needed for a normal-approximation interval of an accuracy no wider than +- half_width."""
    from scipy import stats

    z = stats.norm.ppf(0.5 + confidence / 2)
    return int(math.ceil(z ** 2 * accuracy * (1 - accuracy) / half_width ** 2 - 1e-9))


register(Exercise(
    "limits.clips_for_half_width",
    lambda: [Case("accuracy 0.6, +-0.05, 95%", (0.6, 0.05)), Case("accuracy 0.5, +-0.1, 90%", (0.5, 0.1, 0.9)),
             Case("accuracy 0.9, +-0.02, 95%", (0.9, 0.02)), Case("accuracy 0.75, +-0.15, 99%", (0.75, 0.15, 0.99))],
    clips_for_half_width, rtol=0, atol=0,
    advice={"accuracy 0.6, +-0.05, 95%": "a test set holds a whole number of clips: which way must you round so "
                                         "that the interval is no wider than asked?",
            "accuracy 0.5, +-0.1, 90%": "the quantile depends on the confidence: is yours the two-sided one?",
            "accuracy 0.9, +-0.02, 95%": "the binomial variance p(1 - p) of one clip, divided by the number of "
                                         "clips, is the variance of the accuracy."}))


def _power_cases():
    return [Case("33 clips, 20% only A right, 10% only B right", (33, 0.20, 0.10)),
            Case("150 clips, 15% against 5%", (150, 0.15, 0.05)),
            Case("two equally good classifiers, 40 clips, 10% each way", (40, 0.10, 0.10)),
            Case("classifiers that always agree", (50, 0.0, 0.0)),
            Case("5 clips, all won by A", (5, 1.0, 0.0)),
            Case("60 clips at the 1% level", (60, 0.25, 0.05), {"alpha": 0.01})]


register(Exercise(
    "limits.mcnemar_power", _power_cases, evaluate.mcnemar_power, rtol=1e-6, atol=1e-9,
    advice={"33 clips, 20% only A right, 10% only B right":
                "the number of discordant clips is itself random: weigh each possible count by its probability, "
                "then each split of those clips between A and B.",
            "two equally good classifiers, 40 clips, 10% each way":
                "with no real difference the power is the test's size: how often the exact test rejects by chance "
                "(at most alpha, since the test is exact).",
            "classifiers that always agree": "with no discordant clip there is nothing to test: no rejection.",
            "5 clips, all won by A": "the test is two-sided: what is the exact p-value of 5 clips out of 5, "
                                     "counting both tails, and is it below alpha?",
            "60 clips at the 1% level": "does your function use its alpha argument?"}))


def majority_uf1(counts):
    """UF1 of a classifier that always answers the largest class, from the clips per class (measured)."""
    counts = [int(c) for c in counts]
    y_true = np.repeat(np.arange(len(counts)), counts)
    y_pred = np.full_like(y_true, int(np.argmax(counts)))
    return evaluate.uf1(y_true, y_pred, len(counts))


register(Exercise(
    "limits.majority_uf1",
    lambda: [Case("three balanced classes", ([10, 10, 10],)), Case("the MEGC 2019 composite", ([250, 109, 83],)),
             Case("four classes, one large", ([21, 8, 9, 19],)), Case("two classes", ([90, 10],))],
    majority_uf1,
    advice={"three balanced classes": "the largest class has precision 1/3 and recall 1: what is its F1?",
            "the MEGC 2019 composite": "the classes that are never predicted have F1 = 0, and they still count in "
                                       "the mean over classes.",
            "four classes, one large": "does your mean run over all the classes given?"}))
