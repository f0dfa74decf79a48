"""Exercises of chapter 11, evaluation and ablations (book/11_evaluation_and_ablations.md)."""

import numpy as np

from mer_lib import evaluate
from mer_lib.exercises import Case, Exercise, register


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


def loso_folds(subjects):
    """Leave-one-subject-out folds as a list of (train_indices, test_indices), subjects in sorted order."""
    return list(evaluate.loso_splits(subjects))


register(Exercise("evaluation.loso_folds",
                  lambda: [Case("3 subjects, 6 clips", (np.array(["b", "a", "c", "a", "b", "c"]),)),
                           Case("2 subjects, uneven", (np.array([7, 7, 7, 3]),))],
                  loso_folds,
                  advice={"3 subjects, 6 clips": "check the order of your folds (sorted subjects) and that each "
                                                 "fold's two index arrays together cover every clip once."}))


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
