"""The speed benchmark's plan estimate (benchmarks/bench_training.py): what it counts, not what it measures."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_training  # noqa: E402

from mer_lib import experiments as ex  # noqa: E402


def test_the_plan_is_split_into_its_programs_and_counts_every_training_once():
    groups = bench_training._plan_trainings(ex.FULL_PLAN, 22)
    assert sum(groups.values()) == ex.count_trainings(ex.FULL_PLAN, 22)["total"]
    assert {recipe for _, recipe in groups} == set(ex.FULL_PLAN["recipes"])
    # one row of one model: its recipes' own trainings plus the nested choice's inner ones, one per grid recipe
    one = {**ex.FULL_PLAN, "rows": [ex.FULL_ROWS[0]]}
    counted = ex.count_trainings(one, 22)
    mine = bench_training._plan_trainings(one, 22)
    parts = counted["by_part"]
    inner = counted["nested"] // len(ex.FULL_PLAN["nested"])
    assert mine[(ex.FULL_ROWS[0].model, "paper")] == parts["paper, paper"] + parts["loso, paper"] + inner


def test_the_estimate_leaves_out_the_models_it_did_not_measure_from_every_path():
    subjects = np.repeat([f"s{i}" for i in range(22)], 3)
    model = {"fit": {"steady_epoch_s": 2.0, "overhead_s": 5.0}, "flops_per_run_epoch": 1e9,
             "batched": {"4": {"compile_s": 10.0, "steady_epoch_s": 3.0, "host_s_per_run": 1.0}}}
    report = {"models": {"two_stream": model}, "peak_flops_measured": 1e10,
              "workers": {"1": {"run_epochs_per_s": 0.5}}}
    est = bench_training._plan_estimate(report, subjects)             # issue 21's item 6
    n = sum(k for (m, _), k in bench_training._plan_trainings(
        dict(rows=ex.FULL_ROWS, recipes=("paper", "stable"), protocols=("paper", "loso"), repeats=10, loso_seeds=1,
             n_folds=None), 22).items() if m == "two_stream")
    assert est["trainings"] > n and "two_stream" not in est["missing_models"] and "one_stream" in est["missing_models"]
    paths = est["paths"]
    assert paths["train, one run at a time (Keras fit)"] == pytest.approx(n * (100 * 2.0 + 5.0))
    assert paths["reproduce --workers 1 (Keras fit in each)"] == pytest.approx(n * 100 / 0.5)
    assert paths["physical limit (the steps' FLOPs at the peak)"] == pytest.approx(n * 100 * 1e9 / 1e10)
    per_recipe = n // 2                                               # one program per recipe, chunks of 4 runs
    assert paths["batched trainer"] == pytest.approx(2 * (-(-per_recipe // 4) * (10 + 100 * 3.0)) + n * 1.0)
