"""A results folder is one plan: what a plan is, which requests extend it, which are refused, and why."""

import pytest

from mer_lib import experiments as ex
from mer_lib.experiments.plan import compare_plans, job_identity, make_plan, plan_jobs
from mer_lib.train import RECIPES


def _plan(**change):
    settings = dict(rows=(ex.TABLE3[2], ex.CONTROLS[2]), recipes={"paper": RECIPES["paper"].as_dict()},
                    protocols=("paper", "loso"), repeats=2, loso_seeds=1, loso_rows=None, loso_recipes=None,
                    n_folds=2, epochs=1, batch_size=4, n_classes=3, input_settings={"pbvm": ("phase", 20.0)},
                    data="d" * 16, input_data={"pbvm": "f" * 16}, n_subjects=4)
    settings.update(change)
    return make_plan(**settings)


def test_a_plan_lists_its_folds():
    jobs = plan_jobs(_plan())
    # 2 rows x 1 recipe x (2 paper runs of 1 fold + 1 leave-subjects-out run of 2 folds)
    assert len(jobs) == 8 and len({j.job_id for j in jobs}) == 8
    assert len(plan_jobs(_plan(n_folds=None))) == 2 * (2 + 4)      # one fold per subject
    assert len(plan_jobs(_plan(loso_rows=["two_stream-pbvm"]))) == 2 * 2 + 2


@pytest.mark.parametrize("change, field", [
    (dict(n_folds=3), "n_folds"), (dict(epochs=2), "epochs"), (dict(batch_size=8), "batch_size"),
    (dict(data="e" * 16), "data"), (dict(input_data={"pbvm": "g" * 16}), "the data of the flow input 'pbvm'"),
    (dict(input_settings={"pbvm": ("phase", 10.0)}), "input 'pbvm'"), (dict(n_classes=2), "n_classes"),
    (dict(recipes={"paper": {**RECIPES["paper"].as_dict(), "learning_rate": 0.5}}), "recipe 'paper'"),
    (dict(repeats=1), "repeats: 2 there, 1 asked"), (dict(protocols=("paper",)), "protocols"),
    (dict(rows=(ex.TABLE3[2],)), "rows"), (dict(loso_rows=["two_stream-pbvm"]), "loso_rows: all there"),
])
def test_a_request_that_changes_or_drops_runs_differs_and_the_difference_is_named(change, field):
    kind, why = compare_plans(_plan(), _plan(**change))
    assert kind == "differs" and why.startswith(field), why


@pytest.mark.parametrize("change", [dict(repeats=5), dict(loso_seeds=2), dict(rows=(ex.TABLE3[2], ex.CONTROLS[2],
                                                                                       ex.TABLE3[1])),
                                   dict(recipes={"paper": RECIPES["paper"].as_dict(),
                                                 "stable": RECIPES["stable"].as_dict()})])
def test_a_request_that_only_adds_runs_extends_the_plan(change):
    assert compare_plans(_plan(), _plan(**change)) == ("extends", None)
    assert compare_plans(_plan(), _plan()) == ("same", None)


def test_adding_leave_subjects_out_to_a_plan_of_the_papers_split_extends_it_whatever_the_fold_count():
    assert compare_plans(_plan(protocols=("paper",), n_folds=None), _plan(n_folds=3)) == ("extends", None)


def test_a_folds_identity_holds_every_setting_that_changes_its_result():
    plan = _plan()
    job = plan_jobs(plan)[0]
    identity = job_identity(job, plan)
    assert {"row_key", "recipe_fields", "protocol", "repeat", "fold", "n_folds", "seed", "split_seed", "epochs",
            "batch_size", "n_classes", "input", "data", "input_data"} <= set(identity)
    assert identity["input"] == ["phase", 20.0] and identity["epochs"] == 1


def _cnn_rnn_plan(**change):
    return _plan(rows=(ex.TABLE3[0], ex.TABLE3[2]), **change)


def test_a_plan_records_what_its_changed_models_are_built_with_and_each_fold_its_own():
    plan = _cnn_rnn_plan()
    assert plan["models"] == {"cnn_rnn": {"inputs": "onset_relative"}}
    identities = {job.row.model: job_identity(job, plan)["model"] for job in plan_jobs(plan)}
    assert identities == {"cnn_rnn": {"inputs": "onset_relative"}, "two_stream": None}
    assert _plan()["models"] == {}


def test_a_folder_made_before_models_were_recorded_is_not_extended_with_another_cnn_rnn():
    old = {k: v for k, v in _cnn_rnn_plan().items() if k != "models"}     # as settings.json was written before
    kind, why = compare_plans(old, _cnn_rnn_plan(repeats=3))
    assert kind == "differs"
    assert why == ("model 'cnn_rnn': inputs=frames (not recorded: the model before models were recorded) there, "
                   "inputs=onset_relative asked")
    # a folder without CNN_RNN is extended by it: no run of the older model is there to be mixed in
    no_rnn = {k: v for k, v in _plan().items() if k != "models"}
    assert compare_plans(no_rnn, _plan(rows=(ex.TABLE3[2], ex.CONTROLS[2], ex.TABLE3[0]))) == ("extends", None)


def test_a_record_without_its_model_is_no_fold_of_a_changed_model():
    from mer_lib.experiments.plan import record_mismatch

    plan = _cnn_rnn_plan()
    for job in plan_jobs(plan)[:4]:
        identity = job_identity(job, plan)
        old = {"identity": {k: v for k, v in identity.items() if k != "model"}}
        why = record_mismatch(old, identity)
        if job.row.model == "cnn_rnn":
            assert why is not None and why.startswith("model is not recorded there"), why
        else:
            assert why is None
        assert record_mismatch({"identity": identity}, identity) is None
