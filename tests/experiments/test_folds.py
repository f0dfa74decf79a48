import inspect

import numpy as np
import pytest

from mer_lib import experiments as ex
from mer_lib.errors import UserInputError
from mer_lib.experiments import folds


def test_a_dataset_of_one_class_is_refused_and_an_absent_class_is_named():
    with pytest.raises(UserInputError, match=r"one class only \('surprise'\)"):
        ex.check_classes([2, 2, 2], 3, ["negative", "positive", "surprise"])
    assert ex.check_classes([0, 1, 0], 3, ["negative", "positive", "surprise"]) == [
        "class 'surprise' has no clip in the dataset: its recall is undefined and its F1 is 0"]
    assert ex.check_classes([0, 1, 2], 3) == []


def test_a_one_class_dataset_gets_no_score(tiny):
    frames, flows, _, subjects = tiny
    with pytest.raises(UserInputError, match="one class only"):
        ex.run_row(ex.TABLE3[1], frames, flows, np.zeros(12, int), subjects, epochs=1, progress=False)


def test_a_fold_whose_training_side_lacks_a_class_says_so_in_its_record(tiny):
    frames, flows, labels, subjects = tiny
    train_idx = np.flatnonzero(labels != 2)[:6]        # no clip of class 2 on the training side
    test_idx = np.flatnonzero(labels == 2)[:2]
    with pytest.warns(UserWarning, match="class 2 of 3 has no clip in the training data"):
        record = folds._train_fold(ex.CONTROLS[2], "paper", frames, flows, labels, subjects, train_idx, test_idx,
                                   epochs=1, batch_size=4, seed=0, n_classes=3, checkpoint_dir=None, verbose=0,
                                   protocol="paper")
    assert record["data_warnings"] == ["class 2 of 3 has no clip in the training data: the model cannot learn "
                                       "to predict it"]


def test_the_defaults_of_a_row_and_a_reproduction_are_the_trainers():
    from mer_lib.train import train

    trainer = inspect.signature(train).parameters
    for fn in (ex.run_row, ex.reproduce):
        params = inspect.signature(fn).parameters
        assert params["epochs"].default == trainer["epochs"].default == 100
        assert params["batch_size"].default == trainer["batch_size"].default == 8
    assert folds.library_defaults() == {"epochs": 100, "batch_size": 8}
