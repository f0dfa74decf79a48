"""mer_lib.lbp_top.svm against scikit-learn's SVC(kernel="linear"), and its protocols."""
import numpy as np
import pytest

from mer_lib import evaluate
from mer_lib import lbp_top as L
from mer_lib.errors import UserInputError


@pytest.mark.parametrize("call, match", [
    (lambda: L.run_protocol(np.zeros((4, 2)), np.array([0, 1, 0, 1]), np.arange(4), "random"), "protocol"),
    (lambda: L.run_protocol(np.zeros((3, 2)), np.array([0, 1, 0, 1]), np.arange(4)), "features"),
    (lambda: L.run_protocol(np.zeros((4, 2)), np.array([0, 1, 0, 1]), np.arange(3)), "subjects"),
    (lambda: L.fit_svm(np.zeros((4, 2)), np.array([0, 1, 0, 1]), cs=()), "cs"),
    (lambda: L.fit_svm(np.zeros((4, 2)), np.array([0, 1, 0, 1]), inner_folds=1), "inner_folds"),
    (lambda: L.fit_svm(np.zeros((4, 2)), np.array([0, 1, 0, 1]), groups=np.zeros(4)), "subjects"),
    (lambda: L.fit_svm(np.zeros((3, 2)), np.array([0, 1, 1])), "labels"),
])
def test_bad_input_is_a_one_line_user_input_error_naming_the_argument(call, match):
    with pytest.raises(UserInputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_linear_svm_on_the_gram_matrix_predicts_as_sklearns_linear_svc():
    from sklearn.svm import SVC

    rng = np.random.default_rng(2)
    x = rng.random((60, 300))
    y = rng.integers(0, 3, 60)
    x[:, :3] += 0.4 * np.eye(3)[y]
    for c in (0.01, 1.0, 100.0):
        ours = L.LinearSVM(c).fit(x[:45], y[:45]).predict(x[45:])
        ref = SVC(kernel="linear", C=c, class_weight="balanced").fit(x[:45], y[:45]).predict(x[45:])
        np.testing.assert_array_equal(ours, ref)


def _blobs(n_per_class=12, n_subjects=6, dim=40, separation=3.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    centres = rng.standard_normal((3, dim)) * separation
    features = centres[labels] + rng.standard_normal((len(labels), dim))
    subjects = np.tile(np.arange(n_subjects), len(labels) // n_subjects + 1)[:len(labels)]
    return features, labels, subjects


def test_the_choice_of_c_never_looks_at_the_test_clips():
    features, labels, subjects = _blobs(separation=0.3)
    first = L.run_protocol(features, labels, subjects, "paper", seed=4)
    spoiled = features.copy()
    spoiled[first["test"]] = np.random.default_rng(1).standard_normal(spoiled[first["test"]].shape) * 50
    second = L.run_protocol(spoiled, labels, subjects, "paper", seed=4)
    assert second["C"] == first["C"]
    np.testing.assert_array_equal(second["test"], first["test"])
    assert not np.array_equal(second["y_pred"], first["y_pred"])     # the test clips did change


def test_protocols_test_every_clip_of_a_held_out_subject_once():
    features, labels, subjects = _blobs()
    loso = L.run_protocol(features, labels, subjects, "loso")
    assert sorted(loso["test"]) == list(range(len(labels))) and len(loso["C"]) == 6
    for k in range(6):
        assert len(set(subjects[loso["test"][loso["fold"] == k]])) == 1
    folds = L.run_protocol(features, labels, subjects, 3, seed=1)
    assert sorted(folds["test"]) == list(range(len(labels))) and len(folds["n_test"]) == 3
    paper = L.run_protocol(features, labels, subjects, "paper", seed=2)
    np.testing.assert_array_equal(np.sort(paper["test"]), evaluate.paper_split(labels, 0.2, 2)[1])
    assert evaluate.uf1(loso["y_true"], loso["y_pred"], 3) == 1.0   # well-separated classes are learnt


def test_fit_svm_picks_the_c_with_the_best_validation_uf1():
    features, labels, subjects = _blobs(separation=0.2, seed=3)
    _, info = L.fit_svm(features, labels, subjects, cs=(0.001, 0.1, 10.0))
    assert info["C"] == (0.001, 0.1, 10.0)[int(np.argmax(info["validation_uf1"]))]
