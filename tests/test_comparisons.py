"""The summary's statistics on results folders of made-up run records: tests named, intervals named, verdicts that
agree with what a chapter prints, protocol names, runs that did not train, Tables 3 and 4."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from mer_lib import evaluate, splits
from mer_lib import experiments as ex
from mer_lib.train import CONTROL_RECIPES, RECIPES

N_CLIPS, N_SUBJECTS = 60, 6
LABELS = np.tile([0, 1, 2], N_CLIPS // 3)
SUBJECTS = np.repeat(np.arange(N_SUBJECTS), N_CLIPS // N_SUBJECTS)
ROWS = {"two_stream-pbvm": "Our method", "flow_stream-pbvm": "Flow stream alone (PBVM)",
        "cnn_rnn-frames": "CNN_RNN", "two_stream-flow": "optical flow"}


def _predict(rng, y, accuracy):
    """Predictions right on a share ``accuracy`` of the clips (wrong ones moved to the next class)."""
    right = rng.random(len(y)) < accuracy
    return np.where(right, y, (y + 1) % 3)


def _record(key, recipe, protocol, repeat, fold, n_folds, test, y_pred, loss=0.3, device="CPU", **extra):
    history = {"loss": [1.1] + [loss] * 9, "accuracy": [0.4] + [0.9] * 9}
    run = f"{key}__{recipe}__{protocol}__r{repeat}"
    return {"test_index": [int(i) for i in test], "y_true": [int(v) for v in LABELS[test]],
            "y_pred": [int(v) for v in y_pred], "history": history, "initial_loss": math.log(3), "best_epoch": 10,
            "epochs": 10, "warnings": [], "device": device, "seconds": 1.0, "job": f"{run}__f{fold}", "run": run,
            "row": ROWS[key], "row_key": key, "recipe": recipe, "protocol": protocol, "repeat": repeat, "fold": fold,
            "n_folds": n_folds, "seed": 1000 * repeat + fold, "split_seed": repeat, **extra}


def _folder(tmp_path, name, repeats, skill, protocol="paper", n_folds=None, recipes=("stable",), losses=None,
            nested=None):
    """A results folder of made-up records: each row's accuracy per run is ``skill[key]`` (plus noise)."""
    out = tmp_path / name
    (out / "runs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for r in range(repeats):
        if protocol == "paper":
            folds = [splits.paper_split(LABELS, 0.2, r)]
        else:
            folds = list(splits.subject_folds(SUBJECTS, n_folds or N_SUBJECTS, r))
        for recipe in recipes:
            for key, acc in skill.items():
                for k, (_, test) in enumerate(folds):
                    rec = _record(key, recipe, protocol, r, k, len(folds), test, _predict(rng, LABELS[test], acc),
                                  loss=(losses or {}).get(key, 0.3))
                    (out / "runs" / f"{rec['job']}.json").write_text(json.dumps(rec))
            if nested:
                for key in skill:
                    for k, (_, test) in enumerate(folds):
                        rec = _record(key, "nested", protocol, r, k, len(folds), test, [])
                        rec["nested"] = {"chosen": nested[key], "grid": list(recipes), "metric": "uf1",
                                         "scores": {n: {"uf1": 0.5, "final_loss": 0.3} for n in recipes},
                                         "inner_fit_index": [1, 2], "inner_validation_index": [3]}
                        for field in ("y_true", "y_pred", "history"):
                            del rec[field]
                        (out / "runs" / f"{rec['job']}.json").write_text(json.dumps(rec))
    # the folder's plan, as reproduce records it in the provenance (the summary reads its rows and folds there)
    known = {**RECIPES, **CONTROL_RECIPES}
    plan = {"rows": list(skill), "recipes": {name: known[name].as_dict() for name in recipes},
            "protocols": [protocol], "repeats": repeats if protocol == "paper" else 1,
            "loso_seeds": repeats if protocol == "loso" else 1, "loso_rows": None, "loso_recipes": None,
            "n_folds": n_folds, "epochs": 10, "batch_size": 8, "n_classes": 3,
            "input_settings": {"pbvm": ["phase", 20.0], "flow": [None, 0.0]}, "data": "made-up",
            "nested": list(recipes) if nested else None}
    (out / "provenance.json").write_text(json.dumps({"dataset": {"n_clips": N_CLIPS, "n_subjects": N_SUBJECTS},
                                                     **plan}))
    ex.summarize_results(out, class_names=["negative", "positive", "surprise"], n_permutations=2000)
    return out


def test_two_runs_give_a_range_and_no_verdict(tmp_path):
    out = _folder(tmp_path, "two", 2, {"two_stream-pbvm": 0.95, "cnn_rnn-frames": 0.35})
    tables = pd.read_csv(out / "tables.csv")
    assert set(tables["interval"]) == {"range of 2 runs"} and not tables["interval"].str.contains("95%").any()
    runs = pd.read_csv(out / "runs.csv")
    ours = runs[runs["row_key"] == "two_stream-pbvm"]["uf1"]
    cell = tables[tables["row_key"] == "two_stream-pbvm"].iloc[0]
    assert (cell["uf1_ci_low"], cell["uf1_ci_high"]) == pytest.approx((ours.min(), ours.max()))
    comp = pd.read_csv(out / "comparisons.csv").iloc[0]
    assert comp["interval"] == "range of 2 runs" and not comp["decided"]
    assert comp["verdict"].startswith("undecided: 2 runs")
    assert comp["verdict_test"].startswith("corrected resampled t-test") and comp["verdict_test"].endswith("of UF1")
    assert comp["uf1_p_corrected_t"] == comp["verdict_p"] and np.isnan(comp["uf1_p_randomization"])


def test_five_runs_decide_with_the_corrected_test_and_the_chapter_prints_the_verdict(tmp_path):
    out = _folder(tmp_path, "five", 6, {"two_stream-pbvm": 0.95, "cnn_rnn-frames": 0.30, "flow_stream-pbvm": 0.95})
    comp = pd.read_csv(out / "comparisons.csv")
    tables = pd.read_csv(out / "tables.csv")
    assert set(tables["interval"]) == {"corrected t-interval over 6 random splits (95%)"}
    runs = pd.read_csv(out / "runs.csv")
    n_test = int(runs["n_test"].iloc[0])
    for _, line in comp.iterrows():
        a = runs[runs["row"] == line["a"]].sort_values("repeat")["uf1"].to_numpy()
        b = runs[runs["row"] == line["b"]].sort_values("repeat")["uf1"].to_numpy()
        # the test is recomputed by hand: Nadeau and Bengio's factor 1/J + n_test/n_train on the UF1 differences
        d = a - b
        t = d.mean() / math.sqrt((1 / 6 + n_test / (N_CLIPS - n_test)) * d.var(ddof=1))
        from scipy import stats

        assert line["uf1_p_corrected_t"] == pytest.approx(2 * stats.t.sf(abs(t), 5))
        assert line["uf1_difference"] == pytest.approx(d.mean()) and line["decided"]
        sentence = ex.comparison_sentence(line)         # what a chapter prints
        assert line["verdict"] in sentence and f"{line['uf1_difference']:+.2f}" in sentence
        if line["verdict_p"] < 0.05:                    # sign and p from the same metric
            better = line["a"] if line["uf1_difference"] > 0 else line["b"]
            assert line["verdict"].startswith(f"{better} better (UF1, p = ")
        else:
            assert line["verdict"].startswith("no difference beyond chance")
    against = comp.set_index("b")
    assert against.loc["CNN_RNN", "verdict"].startswith("Our method better")
    assert against.loc["Flow stream alone (PBVM)", "verdict"].startswith("no difference beyond chance")


def test_one_run_under_subject_folds_is_tested_on_its_own_clips(tmp_path):
    out = _folder(tmp_path, "kfold", 1, {"two_stream-pbvm": 0.9, "cnn_rnn-frames": 0.4}, protocol="loso", n_folds=3)
    tables = pd.read_csv(out / "tables.csv")
    assert set(tables["protocol"]) == {"subject-kfold"}          # 3 folds of 6 subjects are not LOSO
    assert set(tables["interval"]) == {f"bootstrap over {N_CLIPS} test clips of one run (95%)"}
    comp = pd.read_csv(out / "comparisons.csv").iloc[0]
    assert comp["protocol"] == "subject-kfold" and comp["decided"]
    assert comp["verdict_test"].startswith("paired randomisation test of UF1 on the pooled predictions of one run")
    assert comp["verdict_p"] == comp["uf1_p_randomization"] < 0.05 and comp["verdict"].startswith("Our method better")
    per_run = pd.read_csv(out / "comparison_runs.csv")
    assert len(per_run) == 1 and per_run["mcnemar_p"].iloc[0] == pytest.approx(comp["mcnemar_p"])
    # a record's protocol field is never rewritten: the name is read, the record stays
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert record["protocol"] == "loso"


def test_leave_one_subject_out_keeps_its_name_and_seeds_get_a_paired_t_test(tmp_path):
    out = _folder(tmp_path, "loso", 2, {"two_stream-pbvm": 0.9, "cnn_rnn-frames": 0.4}, protocol="loso")
    comp = pd.read_csv(out / "comparisons.csv").iloc[0]
    assert comp["protocol"] == "loso" and comp["paired_runs"] == 2
    assert comp["verdict_test"] == "paired t-test of UF1 over 2 seeds (the same clips: conditional on them)"
    assert np.isnan(comp["uf1_p_corrected_t"]) and comp["uf1_p_t_over_seeds"] == comp["verdict_p"]
    assert len(comp["mcnemar_p_runs"].split(";")) == 2              # McNemar per run, never pooled


def test_protocol_names():
    assert splits.protocol_name("paper") == "paper"
    assert splits.protocol_name("loso", 5, 22) == "subject-kfold"
    assert splits.protocol_name("loso", 22, 22) == "loso" and splits.protocol_name("loso") == "loso"
    with pytest.raises(ValueError, match="n_subjects"):
        splits.protocol_name("loso", 5)
    with pytest.raises(ValueError, match="protocol"):
        splits.protocol_name("lopo")


def test_a_run_that_stays_at_ln3_is_marked_not_trained(tmp_path):
    out = _folder(tmp_path, "untrained", 2, {"two_stream-pbvm": 0.9, "cnn_rnn-frames": 0.4},
                  losses={"cnn_rnn-frames": 0.95 * math.log(3)})
    runs = pd.read_csv(out / "runs.csv")
    assert runs.set_index("row_key")["not_trained"].groupby(level=0).all().to_dict() == {
        "cnn_rnn-frames": True, "two_stream-pbvm": False}
    table3 = pd.read_csv(out / "table3.csv").set_index("method")
    assert table3.loc["CNN_RNN", "status"].startswith("not trained") and table3.loc["Our method", "status"] == "trained"
    assert table3.loc["Our method", "paper F1"] == ex.PAPER_TABLE3["Our method"][1]
    found = pd.read_csv(out / "findings.csv").set_index("finding")
    assert found.loc["table3_cnn_rnn", "against_paper"] == "not comparable: CNN_RNN did not train"
    col = pd.read_csv(out / "collapses.csv").iloc[0]
    assert col["not_trained"] == 2 and col["precision"] == "float32" and col["precision_source"].startswith("inferred")


def test_nested_cells_take_each_folds_chosen_recipe(tmp_path):
    out = _folder(tmp_path, "nested", 2, {"two_stream-pbvm": 0.9, "cnn_rnn-frames": 0.4}, recipes=("paper", "stable"),
                  nested={"two_stream-pbvm": "stable", "cnn_rnn-frames": "paper"})
    runs = pd.read_csv(out / "runs.csv").set_index("run")
    for key, chosen in (("two_stream-pbvm", "stable"), ("cnn_rnn-frames", "paper")):
        for r in range(2):
            assert runs.loc[f"{key}__nested__paper__r{r}", "uf1"] == runs.loc[f"{key}__{chosen}__paper__r{r}", "uf1"]
            assert runs.loc[f"{key}__nested__paper__r{r}", "chosen"] == f"{chosen} 1"
    choices = pd.read_csv(out / "recipe_choices.csv")
    assert len(choices) == 4 and set(choices["chosen"]) == {"stable", "paper"}
    comp = pd.read_csv(out / "comparisons.csv")
    assert "nested" in set(comp["recipe"])
    found = pd.read_csv(out / "findings.csv")
    assert "nested" in set(found.loc[found["finding"] == "table3_cnn_rnn", "recipes"])


def test_findings_say_whether_a_result_goes_against_the_paper(tmp_path):
    # unmagnified flow better than PBVM in every one of 6 runs: the paper's Table 4 reversed
    out = _folder(tmp_path, "reversal", 6, {"two_stream-pbvm": 0.55, "two_stream-flow": 0.95})
    found = pd.read_csv(out / "findings.csv").set_index("finding")
    line = found.loc["table4_magnification"]
    assert line["uf1_difference"] < 0 and line["paper_difference"] == pytest.approx(0.02)
    assert line["against_paper"] == "reverses" and line["same_sign_every_run"]
    two = _folder(tmp_path, "reversal2", 2, {"two_stream-pbvm": 0.55, "two_stream-flow": 0.95})
    line2 = pd.read_csv(two / "findings.csv").set_index("finding").loc["table4_magnification"]
    assert line2["against_paper"] == "undecided (opposite sign to the paper)"


def test_the_plan_counts_its_trainings():
    plan = dict(rows=["two_stream-pbvm", "cnn_rnn-frames"], recipes=("paper", "stable", "paper-float32"),
                protocols=("paper", "loso"), repeats=10, loso_seeds=1, n_folds=None, loso_recipes=("paper", "stable"),
                recipe_rows={"paper-float32": ["two_stream-pbvm"]}, nested=("paper", "stable"))
    c = ex.count_trainings(plan, 22)
    # paper split: 2 rows x 10 x (2 recipes + 2 inner) + 1 row x 10 (float32); LOSO: 2 rows x 22 x (2 + 2)
    assert c["total"] == 2 * 10 * 4 + 10 + 2 * 22 * 4 == 266
    assert c["by_part"]["paper, paper-float32"] == 10 and c["nested"] == 2 * 10 * 2 + 2 * 22 * 2
    full = ex.count_trainings(ex.FULL_PLAN, 22)
    assert full["total"] == sum(full["by_part"].values()) and full["by_part"]["loso, stable"] == 22 * len(ex.PLAN_ROWS)


def test_the_controls_are_rows_of_the_plan_and_the_bound_per_alpha():
    from mer_lib.magnify import phase_bound

    keys = {r.key for r in ex.PLAN_ROWS}
    assert {"flow_stream-flow", "flow_stream-pbvm", "frames_stream-frames"} <= keys
    assert {f"{m}-pbvm{a}" for m in ("flow_stream", "two_stream") for a in (5, 10, 40)} <= keys
    assert [ex.alpha_of(r.flow_input) for r in ex.ALPHA_SWEEP[:4]] == list(ex.ALPHAS)
    bound = phase_bound((128, 128), 0.5, ex.ALPHAS)
    # wavelengths 4, 8, 16, 32, 64 px: alpha_max = lambda / (2 * 0.5) - 1 = 3, 7, 15, 31, 63
    assert [b["wrapped_scales"] for b in bound] == [1, 2, 3, 4]
    assert bound[0]["alpha_max"] == pytest.approx([3, 7, 15, 31, 63])

