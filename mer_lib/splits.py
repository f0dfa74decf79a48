"""How clips are split between training and test: the paper's protocol and subject-aware ones.

Two protocols:

- the paper's: a stratified 80/20 split of the clips (:func:`paper_split`).
  Its caveat: clips of one subject land on both sides, so the test set
  contains faces the network has seen, and the score flatters it;
- leave-one-subject-out (:func:`loso_splits`): each subject in turn is the
  test set, the model is trained on all the others, and the predictions of all
  folds are pooled before scoring (the MEGC 2019 protocol);
  :func:`subject_folds` deals the subjects into fewer subject-disjoint folds.

Model selection never looks at the test fold: a validation split, when one is
wanted, is carved out of the training fold (:func:`validation_split`).

The splits come before training in the data flow (training carves its
validation set with them, the experiments draw their folds with them); the
scores computed on the test side are in :mod:`mer_lib.evaluate`.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["paper_split", "validation_split", "loso_splits", "subject_folds", "missing_classes"]


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

    Raises
    ------
    UserInputError
        Fewer than 2 subjects.

    Examples
    --------
    >>> [test.tolist() for _, test in loso_splits(["b", "a", "b"])]
    [[1], [0, 2]]
    """
    subjects = np.asarray(subjects)
    if subjects.ndim != 1 or subjects.size == 0:
        raise UserInputError("subjects must be a non-empty 1-D array")
    unique = np.unique(subjects)
    if len(unique) < 2:
        raise UserInputError(f"leave-one-subject-out needs at least 2 subjects, got {len(unique)}")
    for s in unique:
        test = np.flatnonzero(subjects == s)
        train = np.flatnonzero(subjects != s)
        yield train, test


def subject_folds(subjects, n_folds, seed=0):
    """Subject-disjoint folds: subjects shuffled and dealt into ``n_folds`` groups.

    With ``n_folds`` equal to the number of subjects this is leave-one-subject-out
    (in another order); fewer folds trade granularity for time on a CPU.

    Parameters
    ----------
    subjects : array_like, shape (N,)
    n_folds : int
        2 to the number of subjects.
    seed : int
        Seeds the shuffling of the subjects.

    Yields
    ------
    train_indices, test_indices : ndarray of int

    Raises
    ------
    UserInputError
        ``n_folds`` below 2 or above the number of subjects (checked at the
        call, before the first fold is asked for).
    """
    subjects = np.asarray(subjects)
    unique = np.unique(subjects)
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or not 2 <= n_folds <= len(unique):
        raise UserInputError(f"n_folds must be between 2 and the number of subjects ({len(unique)}), got {n_folds}")
    return _subject_folds(subjects, unique, int(n_folds), seed)


def _subject_folds(subjects, unique, n_folds, seed):
    order = np.random.default_rng(seed).permutation(unique)
    for k in range(n_folds):
        held = order[k::n_folds]
        mask = np.isin(subjects, held)
        yield np.flatnonzero(~mask), np.flatnonzero(mask)


def paper_split(labels, test_fraction=0.2, seed=0):
    """The paper's protocol: a stratified random split of the clips, 80% train and 20% test.

    Each class's clips are shuffled and ``round(test_fraction * n_c)`` of
    them (at least one) go to the test side. A class with a single clip goes
    wholly to the training side: it has no clip to spare for testing. Caveat:
    the split ignores subjects, so one subject's clips land on both sides.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    test_fraction : float, in (0, 1)
    seed : int

    Returns
    -------
    train_indices, test_indices : ndarray of int
        Sorted.

    Examples
    --------
    >>> train, test = paper_split([0] * 5 + [1] * 5 + [2], 0.2, seed=0)
    >>> len(train), len(test), 10 in train       # the one clip of class 2 is trained on
    (9, 2, True)
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
    stratified fraction of the clips (:func:`paper_split` on the fold).

    Parameters
    ----------
    train_indices : array_like of int
    labels : array_like of int, shape (N,)
        Of every clip (indexed by ``train_indices``).
    subjects : array_like, shape (N,), optional
    fraction : float
    seed : int

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


def missing_classes(labels, n_classes):
    """The classes with no clip among ``labels`` (a training side a class is absent from).

    Parameters
    ----------
    labels : array_like of int
    n_classes : int

    Returns
    -------
    list of int

    Examples
    --------
    >>> missing_classes([0, 0, 2], 3)
    [1]
    """
    present = set(np.asarray(labels, dtype=int).tolist())
    return [c for c in range(int(n_classes)) if c not in present]
