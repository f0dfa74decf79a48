"""Nested validation chooses each row's recipe on its training side only (mer_lib.experiments.nested)."""

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from mer_lib import experiments as ex  # noqa: E402
from mer_lib import splits  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _eager(keras_steps_eager):
    """These tests check which recipe is chosen and how, not the compiled steps (tests/conftest.py)."""


@pytest.fixture(scope="module")
def tiny():
    """16 clips of 16 x 16 from 8 subjects, frames and one flow input."""
    rng = np.random.default_rng(1)
    n = 16
    frames = rng.normal(size=(n, 8, 16, 16, 1)).astype(np.float32)
    flows = {"pbvm": rng.normal(size=(n, 16, 16, 16, 1)).astype(np.float32)}
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    subjects = np.repeat([f"s{i}" for i in range(8)], 2)
    return frames, flows, labels, subjects


ROW = ex.CONTROLS[1]          # the frame stream alone: the smallest model


def _choose(tiny, labels, train):
    frames, flows, _, subjects = tiny
    return ex.choose_recipe(ROW, frames, flows, labels, subjects, train, epochs=2, batch_size=4, seed=3)


def test_the_choice_never_reads_a_test_label(tiny):
    frames, flows, labels, subjects = tiny
    train, test = next(splits.subject_folds(subjects, 4, seed=0))
    choice = _choose(tiny, labels, train)
    inner = set(choice["inner_fit_index"]) | set(choice["inner_validation_index"])
    assert inner == set(train.tolist()) and not inner & set(test.tolist())
    assert not set(subjects[choice["inner_fit_index"]]) & set(subjects[choice["inner_validation_index"]])
    assert choice["chosen"] in ex.NESTED_GRID and set(choice["scores"]) == set(ex.NESTED_GRID)
    poisoned = labels.copy()
    poisoned[test] = (poisoned[test] + 1) % 3          # every test clip's label wrong
    again = _choose(tiny, poisoned, train)
    assert again == choice                              # the same choice, and the same inner scores
    # the check can fail: the inner validation clips' labels do change the scores
    moved = labels.copy()
    moved[choice["inner_validation_index"]] = (moved[choice["inner_validation_index"]] + 1) % 3
    frames, flows, _, subjects = tiny
    one = ex.choose_recipe(ROW, frames, flows, moved, subjects, train, grid=("paper",), epochs=2, batch_size=4, seed=3)
    assert one["scores"]["paper"] != choice["scores"]["paper"]


def test_reproduce_records_the_choice_per_fold_and_summarises_the_chosen_recipes(tiny, tmp_path):
    frames, flows, labels, subjects = tiny
    rows = (ROW,)
    out = tmp_path / "nested"
    table = ex.reproduce(out, frames, flows, labels, subjects, rows=rows, recipes=("paper", "stable"),
                         protocols=("paper",), repeats=1, epochs=1, batch_size=4, nested=ex.NESTED_GRID,
                         progress=False, command="pytest")
    prov = ex.validate_results(out)
    assert prov["runs"] == 3                          # 2 recipes + 1 nested choice (its comparisons: test_comparisons)
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*__nested__*.json")]
    assert len(records) == 1 and records[0]["nested"]["chosen"] in ex.NESTED_GRID
    assert "y_pred" not in records[0]                 # a choice, not a test: its predictions are the chosen run's
    choices = pd.read_csv(out / "recipe_choices.csv")
    assert len(choices) == 1 and choices["row_key"].iloc[0] == ROW.key
    nested = table[table["recipe"] == ex.NESTED].iloc[0]
    assert nested["chosen"] == f"{records[0]['nested']['chosen']} 1"
    runs = pd.read_csv(out / "runs.csv").set_index("run")
    assert runs.loc[f"{ROW.key}__nested__paper__r0", "uf1"] == \
        runs.loc[f"{ROW.key}__{records[0]['nested']['chosen']}__paper__r0", "uf1"]
    with pytest.raises(ValueError, match="nested"):
        ex.reproduce(tmp_path / "bad", frames, flows, labels, subjects, rows=rows, recipes=("paper",),
                     nested=ex.NESTED_GRID, epochs=1, progress=False)


def test_the_choice_is_the_best_inner_uf1_first_in_the_grid_on_a_tie_and_a_missing_score_is_refused():
    scores = {"paper": {"uf1": 0.4}, "stable": {"uf1": 0.6}}
    assert ex.nested.choice_of(("paper", "stable"), scores, [0, 1], [2])["chosen"] == "stable"
    assert ex.nested.choice_of(("stable", "paper"), {**scores, "paper": {"uf1": 0.6}}, [0], [1])["chosen"] == "stable"
    with pytest.raises(UserInputError, match="'stable'"):
        ex.nested.choice_of(("paper", "stable"), {"paper": {"uf1": 0.4}}, [0], [1])
    with pytest.raises(UserInputError, match="grid"):
        ex.nested.choice_of((), scores, [0], [1])
