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
                  advice={"never predicting the rare class": "a class with TP = 0 has F1 = 0; average the three "
                                                             "F1 values without weighting."}))
register(Exercise("evaluation.uar", _pred_cases, evaluate.uar,
                  advice={"40 noisy predictions": "recall of class c is TP_c / (number of true c); average over "
                                                  "classes, not over clips."}))


def loso_folds(subjects):
    """Leave-one-subject-out folds as a list of (train_indices, test_indices), subjects in sorted order."""
    return list(evaluate.loso_splits(subjects))


register(Exercise("evaluation.loso_folds",
                  lambda: [Case("3 subjects, 6 clips", (np.array(["b", "a", "c", "a", "b", "c"]),)),
                           Case("2 subjects, uneven", (np.array([7, 7, 7, 3]),))],
                  loso_folds,
                  advice={"3 subjects, 6 clips": "one fold per subject, in sorted order (np.unique); test = that "
                                                 "subject's clip indices, train = all the others."}))
