"""The splitting protocols (mer_lib.splits): the paper's split, subjects held out, a validation set."""

import numpy as np
import pytest

from mer_lib import evaluate, splits
from mer_lib.errors import UserInputError


def test_loso_folds_never_share_a_subject_and_cover_every_clip_once():
    subjects = np.array(["s1", "s2", "s1", "s3", "s2", "s3", "s3"])
    seen = []
    for train, test in splits.loso_splits(subjects):
        assert len(set(subjects[test])) == 1
        assert not set(subjects[train]) & set(subjects[test])
        assert len(train) + len(test) == len(subjects)
        seen.extend(test)
    assert sorted(seen) == list(range(len(subjects)))


def test_subject_folds_are_subject_disjoint():
    subjects = np.repeat(np.arange(10), 3)
    folds = list(splits.subject_folds(subjects, 4))
    assert len(folds) == 4
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
    assert sorted(np.concatenate([t for _, t in folds])) == list(range(30))
    with pytest.raises(ValueError, match="n_folds"):
        list(splits.subject_folds(subjects, 11))


def test_paper_split_is_stratified_80_20_and_leaks_subjects():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    subjects = np.tile(np.arange(10), 10)
    train, test = splits.paper_split(labels, 0.2, seed=0)
    assert len(test) == 20 and len(train) == 80 and not set(train) & set(test)
    assert np.bincount(labels[test]).tolist() == [10, 6, 4]
    assert set(subjects[train]) & set(subjects[test])   # the caveat: subjects on both sides


def test_validation_is_carved_from_the_training_fold_only():
    labels = np.repeat([0, 1, 2], 10)
    subjects = np.tile(np.arange(6), 5)
    train, test = next(splits.loso_splits(subjects))
    fit, val = splits.validation_split(train, labels, subjects, 0.2)
    assert set(fit) | set(val) == set(train) and not set(val) & set(test)
    assert not set(subjects[fit]) & set(subjects[val])


def test_a_class_of_one_clip_goes_wholly_to_the_training_side_as_documented():
    train, test = splits.paper_split([0] * 5 + [1] * 5 + [2], 0.2, seed=0)
    assert 10 in train and 10 not in test and len(test) == 2


def test_more_folds_than_subjects_is_a_users_mistake_named_at_the_call():
    with pytest.raises(UserInputError, match=r"between 2 and the number of subjects \(4\), got 9"):
        splits.subject_folds(np.repeat(["a", "b", "c", "d"], 2), 9)         # no fold asked for yet
    with pytest.raises(UserInputError, match="at least 2 subjects"):
        list(splits.loso_splits(["a", "a"]))


def test_the_protocols_are_still_importable_from_evaluate():
    assert evaluate.paper_split is splits.paper_split and evaluate.loso_splits is splits.loso_splits
    assert evaluate.subject_folds is splits.subject_folds and evaluate.validation_split is splits.validation_split


def test_missing_classes_names_the_classes_a_training_side_lacks():
    assert splits.missing_classes([0, 0, 2], 3) == [1] and splits.missing_classes([0, 1, 2], 3) == []
