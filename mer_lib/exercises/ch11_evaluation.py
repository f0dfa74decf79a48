"""Exercises of chapter 11, evaluation and ablations (book/11_evaluation_and_ablations.md)."""

import numpy as np

from mer_lib import evaluate
from mer_lib.exercises import Case, Exercise, describe, register


def _pred_cases():
    rng = np.random.default_rng(15)
    y = rng.integers(0, 3, 40)
    p = np.where(rng.random(40) < 0.6, y, rng.integers(0, 3, 40))
    return [Case("perfect predictions", (np.array([0, 1, 2, 2]), np.array([0, 1, 2, 2]), 3)),
            Case("never predicting the rare class", (np.array([0, 0, 0, 1, 1, 1, 2]), np.array([0, 0, 0, 1, 1, 1, 0]), 3)),
            Case("40 noisy predictions", (y, p, 3))]


register(Exercise("evaluation.uf1", _pred_cases, evaluate.uf1,
                  advice={"never predicting the rare class": "the class that is never predicted still counts in the "
                                                             "average: what is its F1? Are the classes weighted "
                                                             "by their size?"}))
register(Exercise("evaluation.uar", _pred_cases, evaluate.uar,
                  advice={"40 noisy predictions": "is your average over classes or over clips? The two differ "
                                                  "when the classes are imbalanced."}))


def subject_folds(subjects, k):
    """k subject-disjoint folds, as even in clips as dealing the subjects largest first allows.

    A reference answer: the subjects, largest first, each dealt to the fold that
    has the fewest test clips so far. The checker accepts any folds with the
    properties it tests (:func:`_check_folds`: subject-disjoint, every clip
    tested once, the largest fold no larger than this answer's), not only these.
    """
    subjects = np.asarray(subjects)
    names, counts = np.unique(subjects, return_counts=True)
    tests = [[] for _ in range(k)]
    sizes = np.zeros(k, int)
    for i in np.argsort(-counts, kind="stable"):
        f = int(np.argmin(sizes))
        tests[f].append(names[i])
        sizes[f] += counts[i]
    return [(np.flatnonzero(~np.isin(subjects, t)), np.flatnonzero(np.isin(subjects, t))) for t in tests]


def _fold_cases():
    rng = np.random.default_rng(11)
    uneven = np.repeat(np.array([f"s{i:02d}" for i in range(9)]), rng.integers(1, 12, 9))
    many = rng.choice([f"p{i}" for i in range(22)], 164)
    return [Case("6 clips of 3 subjects, 3 folds: one subject a fold", (np.array(["b", "a", "c", "a", "b", "c"]), 3)),
            Case("one subject with most of the clips, 2 folds", (np.array([7, 7, 7, 7, 7, 3, 4, 5]), 2)),
            Case("9 subjects of uneven size, 4 folds", (rng.permutation(uneven), 4)),
            Case("164 clips of 22 subjects, 5 folds", (many, 5))]


def _check_folds(got, expected, case):
    subjects, k = case.args
    subjects = np.asarray(subjects)
    n = len(subjects)
    try:
        folds = [(np.asarray(tr, dtype=int), np.asarray(te, dtype=int)) for tr, te in got]
    except (TypeError, ValueError):
        return f"expected a list of (train_indices, test_indices) pairs, got {describe(got)}"
    if len(folds) != k:
        return f"expected {k} folds, got {len(folds)}"
    tested = np.concatenate([te for _, te in folds]) if folds else np.array([], int)
    if sorted(tested.tolist()) != list(range(n)):
        return "every clip must be in exactly one fold's test side (some are missing or tested twice)"
    for f, (tr, te) in enumerate(folds):
        if len(te) == 0:
            return f"fold {f} tests no clip"
        if sorted(np.r_[tr, te].tolist()) != list(range(n)):
            return f"fold {f}: its training and test sides together must be every clip, each once"
        shared = set(subjects[tr].tolist()) & set(subjects[te].tolist())
        if shared:
            return f"fold {f}: subject {sorted(shared)[0]!r} is on both sides: the test would see a known face"
    sizes = sorted(len(te) for _, te in folds)
    reachable = max(len(te) for _, te in expected)
    if sizes[-1] > reachable:
        return (f"the folds test {sizes} clips: they could be more even (the largest fold can test as few as "
                f"{reachable} clips)")
    return None


register(Exercise("evaluation.subject_folds", _fold_cases, subject_folds, compare=_check_folds,
                  advice={"6 clips of 3 subjects, 3 folds: one subject a fold":
                              "with as many folds as subjects, each fold holds out one whole subject.",
                          "one subject with most of the clips, 2 folds":
                              "a subject's clips all go to one side; which fold should the big subject's "
                              "companions go to, so that the folds are as even as they can be?",
                          "9 subjects of uneven size, 4 folds":
                              "dealing subjects in turn ignores their sizes: which fold should the next subject "
                              "go to, and in which order should you take them?"}))


def mcnemar_exact(y_true, pred_a, pred_b):
    """The exact two-sided McNemar p-value of two classifiers on the same clips."""
    return evaluate.mcnemar(y_true, pred_a, pred_b, exact=True)["p_value"]


def _mcnemar_cases():
    rng = np.random.default_rng(33)
    y = rng.integers(0, 3, 33)
    a = np.where(rng.random(33) < 0.7, y, (y + 1) % 3)
    b = np.where(rng.random(33) < 0.5, y, (y + 2) % 3)
    six = np.zeros(10, int)
    return [Case("two identical classifiers", (y, a, a.copy())),
            Case("A right on 6 clips where B is wrong, never the reverse", (six, six, np.r_[np.ones(6, int), six[:4]])),
            Case("the same clips counted from B's side", (six, np.r_[np.ones(6, int), six[:4]], six)),
            Case("33 clips, two noisy classifiers", (y, a, b))]


register(Exercise("evaluation.mcnemar_exact", _mcnemar_cases, mcnemar_exact,
                  advice={"two identical classifiers": "with no clip on which they disagree, nothing speaks "
                                                       "against 'they err equally often'.",
                          "A right on 6 clips where B is wrong, never the reverse":
                              "only the clips where exactly one classifier is right count; under the null "
                              "each of them is a fair coin. Is your test two-sided?",
                          "the same clips counted from B's side": "swapping A and B must not change the "
                                                                  "p-value.",
                          "33 clips, two noisy classifiers": "a p-value is at most 1."}))
