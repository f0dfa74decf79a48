"""The time planner (mer_lib.budget): plans fit their budget, are never empty, and shrink when a run is late.

Time is simulated with a fake clock wherever a result depends on it: no test
here measures the machine's speed.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from mer_lib import budget as bd
from mer_lib.errors import UserInputError


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


# --- Budget and budget_seconds --------------------------------------------------------------------------------

def test_a_budget_counts_down_on_its_clock():
    clock = FakeClock()
    b = bd.Budget(100, "training", clock=clock)
    assert b.left() == 100 and b.fits(100) and not b.fits(100.5)
    clock.advance(30)
    assert b.elapsed() == 30 and b.left() == 70
    clock.advance(80)
    assert b.left() == -10 and not b.fits(0)
    assert "training" in repr(b)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "60", None, True])
def test_a_budget_must_be_a_positive_number(seconds):
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        bd.Budget(seconds)


def test_budget_seconds_follows_the_mode_and_the_scale(monkeypatch):
    monkeypatch.delenv(bd.BUDGET_SCALE_VARIABLE, raising=False)
    monkeypatch.setenv("MER_FAST", "1")
    assert bd.budget_seconds(300, 60) == 60 and bd.budget_seconds(300) == 300
    monkeypatch.setenv("MER_FAST", "0")
    assert bd.budget_seconds(300, 60) == 300
    monkeypatch.setenv(bd.BUDGET_SCALE_VARIABLE, "2.5")
    assert bd.budget_seconds(300, 60) == 750


@pytest.mark.parametrize("value", ["0", "-2", "fast", "nan", "inf"])
def test_a_bad_budget_scale_is_a_one_line_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(bd.BUDGET_SCALE_VARIABLE, value)
    with pytest.raises(UserInputError, match=f"{bd.BUDGET_SCALE_VARIABLE}: expected a positive number"):
        bd.budget_seconds(10)


# --- plan -----------------------------------------------------------------------------------------------------

def _linear_cost(weights, fixed):
    """A cost that grows with every option: fixed + product of the options' values, weighted."""
    def cost(choice):
        return fixed + weights * math.prod(len(v) if isinstance(v, tuple) else v for v in choice.values())
    return cost


def test_every_plan_fits_its_budget_and_no_option_could_grow_further():
    rng = np.random.default_rng(0)
    options = {"rows": [(1, 2), (1, 2, 3), (1, 2, 3, 4)], "epochs": list(bd.EPOCH_STEPS), "n_folds": [2, 3, 5],
               "repeats": [1, 2, 3, 5]}
    for _ in range(300):
        cost = _linear_cost(weights=rng.uniform(0.1, 5), fixed=rng.uniform(0, 50))
        budget = rng.uniform(1, 5000)
        p = bd.plan(budget, cost, options, reason="measured")
        smallest = {k: v[0] for k, v in options.items()}
        assert p.choice and set(p.choice) == set(options)          # never empty
        assert p.predicted_s == pytest.approx(cost(p.choice))
        if cost(smallest) <= budget:
            assert p.fits and p.predicted_s <= budget
            for name, values in options.items():           # maximal: one more step of any option overruns
                i = values.index(p.choice[name])
                if i + 1 < len(values):
                    assert cost({**p.choice, name: values[i + 1]}) > budget
        else:
            assert not p.fits and p.choice == smallest
            assert "OVER BUDGET" in p.describe()


def test_options_grow_in_turns_in_their_order_of_importance():
    # each step of either option costs the same: the first option named gets the odd step
    p = bd.plan(5, lambda c: c["rows"] + c["epochs"], {"rows": [1, 2, 3, 4], "epochs": [1, 2, 3, 4]})
    assert p.choice == {"rows": 3, "epochs": 2}
    p = bd.plan(5, lambda c: c["rows"] + c["epochs"], {"epochs": [1, 2, 3, 4], "rows": [1, 2, 3, 4]})
    assert p.choice == {"epochs": 3, "rows": 2}


def test_a_plan_says_what_it_chose_why_and_what_more_time_would_give():
    p = bd.plan(100, lambda c: 30 * c["epochs"], {"epochs": [1, 2, 3, 4, 5]}, reason="one epoch took 30 s")
    text = p.describe()
    assert p["epochs"] == 3 and "epochs 3" in text and "predicted 90 s of a 100 s budget" in text
    assert "one epoch took 30 s" in text and "epochs up to 5" in text and bd.BUDGET_SCALE_VARIABLE in text
    clock = FakeClock()
    b = bd.Budget(100, clock=clock)
    clock.advance(40)
    assert "predicted 60 s; 60 s left of a 100 s budget" in bd.plan(b, lambda c: 30 * c["epochs"],
                                                                    {"epochs": [1, 2, 3]}).describe()
    clock.advance(70)
    spent = bd.plan(b, lambda c: 30 * c["epochs"], {"epochs": [1, 2, 3]})
    assert not spent.fits and spent["epochs"] == 1 and "0 s left of a 100 s budget; OVER BUDGET" in spent.describe()
    late = p.with_note("the second run got 1 epoch", degraded=True, epochs=1)
    assert late.degraded and late["epochs"] == 1 and "DEGRADED: the second run got 1 epoch" in late.describe()
    assert not p.degraded and p["epochs"] == 3        # the original is unchanged


@pytest.mark.parametrize("budget, options, cost, match", [
    (0, {"epochs": [1]}, lambda c: 1, "budget must be a Budget or a positive"),
    (10, {}, lambda c: 1, "at least one option"),
    (10, {"epochs": []}, lambda c: 1, "option 'epochs' has no value"),
    (10, {"epochs": [1, 2]}, lambda c: float("nan"), "finite number of seconds"),
    (10, {"epochs": [1, 2]}, lambda c: -1.0, "finite number of seconds"),
])
def test_the_planner_refuses_what_it_cannot_plan(budget, options, cost, match):
    with pytest.raises(ValueError, match=match):
        bd.plan(budget, cost, options)


# --- stratified_order -----------------------------------------------------------------------------------------

def test_every_prefix_of_the_stratified_order_keeps_the_class_proportions():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], [67, 69, 28])
    subjects = rng.integers(0, 22, len(labels))
    order = bd.stratified_order(labels, subjects, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))
    share = np.bincount(labels) / len(labels)
    for n in range(1, len(labels) + 1):
        counts = np.bincount(labels[order[:n]], minlength=3)
        assert np.all(np.abs(counts - n * share) <= 1.0 + 1e-9), (n, counts, n * share)
    # within a class the subjects go round: the first clips of a class come from as many subjects as possible
    for c in range(3):
        firsts = [i for i in order if labels[i] == c][:5]
        members = subjects[labels == c]
        assert len(set(subjects[firsts])) == min(5, len(set(members)))


def test_the_stratified_order_depends_only_on_its_seed():
    labels = np.tile([0, 1], 10)
    assert np.array_equal(bd.stratified_order(labels, seed=3), bd.stratified_order(labels, seed=3))
    assert not np.array_equal(bd.stratified_order(labels, seed=3), bd.stratified_order(labels, seed=4))
    with pytest.raises(ValueError, match="groups"):
        bd.stratified_order(labels, groups=[1, 2])
    with pytest.raises(ValueError, match="non-empty"):
        bd.stratified_order([])


# --- training plans and runs ----------------------------------------------------------------------------------

COST = bd.TrainingCost(setup_s=10.0, step_s=0.5, predict_s=0.01, batch_size=8, label="net")


def test_a_training_cost_predicts_set_up_steps_and_predictions():
    # 100 clips: 13 steps an epoch; 3 epochs; 50 clips predicted once and 20 after every epoch
    assert COST.run_seconds(100, 3, 50, 20) == pytest.approx(10 + 3 * (13 * 0.5 + 20 * 0.01) + 50 * 0.01)
    assert "one step of 8 clips 0.50 s" in COST.describe()


def test_the_planned_epochs_fit_and_one_more_step_would_not():
    runs = [bd.TrainingRun("paper", COST, 100, 200, 20), bd.TrainingRun("stable", COST, 100, 200, 20)]
    for seconds in (30, 60, 100, 250, 1000, 10_000):
        p = bd.plan_training(seconds, runs)
        total = sum(r.seconds(p["epochs"]) for r in runs)
        if p.fits:
            assert total <= seconds
            steps = list(bd.EPOCH_STEPS)
            i = steps.index(p["epochs"])
            assert i + 1 == len(steps) or sum(r.seconds(steps[i + 1]) for r in runs) > seconds
        else:
            assert p["epochs"] == 1 and total > seconds
    assert "2 runs of 100 training clips" in bd.plan_training(100, runs).reason
    with pytest.raises(ValueError, match="at least one run"):
        bd.plan_training(100, [])


def test_training_within_a_budget_shrinks_the_second_run_when_the_first_ran_late():
    clock = FakeClock()
    budget = bd.Budget(100, "training", clock=clock)
    runs = [bd.TrainingRun("paper", COST, 80), bd.TrainingRun("stable", COST, 80)]
    planned = bd.plan_training(budget, runs)
    assert planned.fits and planned["epochs"] >= 4
    asked = []

    def run(label, epochs):
        asked.append((label, epochs))
        clock.advance(3 * runs[0].seconds(epochs) if label == "paper" else runs[1].seconds(epochs))
        return label.upper()

    results, ran = bd.train_within(budget, planned, runs, run)
    assert results == {"paper": "PAPER", "stable": "STABLE"}
    assert asked[0] == ("paper", planned["epochs"]) and asked[1][1] < planned["epochs"]
    assert ran.degraded and ran["epochs_run"] == dict(asked)
    assert "DEGRADED: stable:" in ran.describe() and "3.0 times their prediction" in ran.describe()


def test_training_within_a_budget_keeps_the_plan_when_on_time():
    clock = FakeClock()
    budget = bd.Budget(100, "training", clock=clock)
    runs = [bd.TrainingRun("a", COST, 80), bd.TrainingRun("b", COST, 80)]
    planned = bd.plan_training(budget, runs)

    def run(label, epochs):
        clock.advance(runs[0].seconds(epochs))
        return epochs

    results, ran = bd.train_within(budget, planned, runs, run)
    assert not ran.degraded and set(results.values()) == {planned["epochs"]}
    assert ran.notes[-1].startswith("ran in ")


def test_training_cost_measures_a_small_network_predicting_as_train_does(monkeypatch):
    keras = pytest.importorskip("keras")
    from mer_lib.train import train

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    def compiled_predict(*args, **kwargs):
        raise AssertionError("model.predict traces a prediction step that train does not pay")

    x = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
    monkeypatch.setattr(keras.Model, "predict", compiled_predict)
    train(build, x, np.arange(12) % 3, recipe="paper", epochs=1, batch_size=4, verbose=0)   # the premise
    cost = bd.training_cost(build, x, np.arange(12) % 3, recipe="paper", steps=2, label="tiny")
    assert cost.setup_s > 0 and cost.step_s > 0 and cost.predict_s > 0 and cost.label == "tiny"
    with pytest.raises(ValueError, match="steps"):
        bd.training_cost(build, x, np.arange(12) % 3, steps=0)


# --- a reproduction in stages ---------------------------------------------------------------------------------

ROWS_COSTS = {"two": bd.TrainingCost(5, 0.5, 0.01), "one": bd.TrainingCost(3, 0.2, 0.01),
              "frames": bd.TrainingCost(3, 0.3, 0.01), "rnn": bd.TrainingCost(4, 0.4, 0.01)}


def test_a_reproduction_plan_fits_and_takes_the_rows_by_importance():
    for seconds in (50, 200, 1000, 5000):
        p = bd.plan_reproduction(seconds, ROWS_COSTS, 100, rows=["two", "one", "frames", "rnn"], min_rows=2)
        c = p.choice
        assert c["rows"] == ("two", "one", "frames", "rnn")[:len(c["rows"])] and len(c["rows"]) >= 2
        assert p.predicted_s == pytest.approx(bd.reproduction._reproduction_seconds(ROWS_COSTS, c["rows"], 100, c["epochs"],
                                                                       c["repeats"], c["n_folds"]))
        assert (p.fits and p.predicted_s <= seconds) or (not p.fits and c["epochs"] == 1 and len(c["rows"]) == 2)
    with pytest.raises(ValueError, match="no measured cost for row 'x'"):
        bd.plan_reproduction(100, ROWS_COSTS, 100, rows=["two", "x"])
    with pytest.raises(ValueError, match="at least 2"):
        bd.plan_reproduction(100, ROWS_COSTS, 100, rows=["two"], min_rows=1, n_folds=(1,))


class _Row:
    def __init__(self, key):
        self.key = key
        self.label = key


def test_the_rows_that_cannot_fit_are_never_measured():
    asked = []

    def measure(row):
        asked.append(row.key)
        return ROWS_COSTS[row.key]

    keys = ["two", "one", "frames", "rnn"]
    tight = bd.RowCosts([_Row(k) for k in keys], measure)
    p = bd.plan_reproduction(55, tight, 100, rows=keys, min_rows=2)      # the smallest plan: 50 s
    assert asked == ["two", "one"] and tight.measured() == ["two", "one"] and p["rows"] == ("two", "one")
    assert "not measured (no time for them): frames, rnn" in p.reason
    assert p.largest["rows"] == tuple(keys)
    asked.clear()
    roomy = bd.RowCosts([_Row(k) for k in keys], measure)
    p = bd.plan_reproduction(5000, roomy, 100, rows=keys, min_rows=2)
    assert asked == keys and p["rows"] == tuple(keys) and "not measured" not in p.reason
    # the same plan as with every cost known beforehand
    assert p.choice == bd.plan_reproduction(5000, ROWS_COSTS, 100, rows=keys, min_rows=2).choice
    with pytest.raises(KeyError):
        roomy["nope"]


def _fake_reproduce(clock, calls, slowness):
    def reproduce(out, frames, flows, labels, subjects, *, rows, epochs, protocols, repeats, n_folds, **kwargs):
        keys = [r.key for r in rows]
        predicted = bd.reproduction._reproduction_seconds(ROWS_COSTS, keys, len(labels), epochs, repeats, n_folds or 0)
        done = sum(c["predicted"] for c in calls)
        calls.append({"out": Path(out), "protocols": protocols, "repeats": repeats, "n_folds": n_folds,
                      "predicted": predicted - done})
        clock.advance(slowness * (predicted - done))
        return {"stage": len(calls)}
    return reproduce


def test_a_reproduction_runs_every_stage_when_on_time(monkeypatch, tmp_path):
    from mer_lib import experiments as ex

    clock, calls = FakeClock(), []
    monkeypatch.setattr(ex, "reproduce", _fake_reproduce(clock, calls, slowness=1.0))
    budget = bd.Budget(3000, "training", clock=clock)
    p = bd.plan_reproduction(budget, ROWS_COSTS, 100, rows=["two", "one", "frames", "rnn"])
    assert p["repeats"] > 1
    tables, ran = bd.reproduce_within(budget, p, ROWS_COSTS, tmp_path, None, None, np.zeros(100), None,
                                      rows=[_Row(k) for k in ROWS_COSTS])
    assert tables == {"stage": 3} and not ran.degraded and len(ran["stages"]) == 3
    assert [c["protocols"] for c in calls] == [("paper",), ("paper", "loso"), ("paper", "loso")]
    assert calls[-1]["repeats"] == p["repeats"] and calls[-1]["n_folds"] == p["n_folds"]
    assert {c["out"] for c in calls} == {tmp_path / f"100clips-{p['epochs']}epochs-{p['n_folds']}folds"}
    assert clock() <= 3000


def test_a_late_reproduction_leaves_out_the_stages_that_no_longer_fit(monkeypatch, tmp_path):
    from mer_lib import experiments as ex

    clock, calls = FakeClock(), []
    monkeypatch.setattr(ex, "reproduce", _fake_reproduce(clock, calls, slowness=4.0))
    budget = bd.Budget(3000, "training", clock=clock)
    p = bd.plan_reproduction(budget, ROWS_COSTS, 100, rows=["two", "one", "frames", "rnn"])
    tables, ran = bd.reproduce_within(budget, p, ROWS_COSTS, tmp_path, None, None, np.zeros(100), None,
                                      rows=[_Row(k) for k in ROWS_COSTS])
    assert len(calls) < 3 and tables == {"stage": len(calls)}          # the first stage always runs
    assert ran.degraded and "DEGRADED: left out:" in ran.describe() and len(ran["stages"]) == len(calls)


# --- pre-processing within a budget ---------------------------------------------------------------------------

class _Clips:
    """Ten random clips of 4 frames, 16 x 16, with their apex frames (what preprocess_within reads)."""

    frames = np.random.default_rng(0).random((10, 4, 16, 16))
    apex = np.full(10, 2)

    def __len__(self):
        return len(self.frames)


def _tiny_clips():
    return _Clips()


SETTINGS = dict(magnify=None, flow="horn_schunck", size=8, flow_kwargs={"n_warps": 2, "max_iterations": 20})


def test_pre_processing_within_a_budget_keeps_a_stratified_prefix(monkeypatch):
    from mer_lib.pipeline import preprocess

    data = _tiny_clips()
    order = bd.stratified_order(np.arange(10) % 3)
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 1.0)      # one clip: 1 s, one process
    clock = FakeClock()
    index, inputs, p = bd.preprocess_within(bd.Budget(5.5, clock=clock), data, order=order, minimum=2, n_jobs=1,
                                            progress=False, **SETTINGS)
    assert p.fits and p["clips"] == 5 and len(index) == 5
    assert np.array_equal(index, np.sort(order[:5]))
    full = preprocess(data.frames[index], apex=data.apex[index], n_jobs=1, progress=False, **SETTINGS)
    assert np.array_equal(inputs.frames, full.frames) and np.array_equal(inputs.flow, full.flow)


def test_pre_processing_over_budget_still_does_the_minimum_and_says_so(monkeypatch):
    data = _tiny_clips()
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 100.0)
    index, inputs, p = bd.preprocess_within(bd.Budget(10, clock=FakeClock()), data,
                                            order=np.arange(len(data)), minimum=3, n_jobs=1, progress=False,
                                            **SETTINGS)
    assert not p.fits and len(index) == 3 and inputs.frames.shape[0] == 3
    assert "OVER BUDGET" in p.describe()
    with pytest.raises(ValueError, match="permutation"):
        bd.preprocess_within(bd.Budget(10), data, order=[0, 0, 1], n_jobs=1, progress=False, **SETTINGS)
    with pytest.raises(ValueError, match="minimum"):
        bd.preprocess_within(bd.Budget(10), data, order=np.arange(len(data)), minimum=0, n_jobs=1, **SETTINGS)


def test_pre_processing_shrinks_its_second_half_when_the_first_ran_late(monkeypatch):
    import mer_lib.pipeline as pipeline

    data = _tiny_clips()
    clock = FakeClock()
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 1.0)
    real = pipeline.preprocess

    def slow(clips, **kwargs):
        clock.advance(3.0 * len(clips))            # three times the measured second a clip
        return real(clips, **kwargs)

    monkeypatch.setattr(pipeline, "preprocess", slow)
    index, _, p = bd.preprocess_within(bd.Budget(10, clock=clock), data, order=np.arange(len(data)), minimum=1,
                                       n_jobs=1, progress=False, **SETTINGS)
    assert p.degraded and len(index) < 10 and len(index) == p["clips"]
    assert "DEGRADED: the first 5 clips took 3.0 s a clip (planned: 1.0)" in p.describe()


def test_the_minimum_is_a_floor_for_both_calls_even_after_a_quick_cached_first_half(monkeypatch):
    import mer_lib.pipeline as pipeline

    data = _tiny_clips()
    clock = FakeClock()
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 1.0)
    real, seen = pipeline.preprocess, []

    def first_half_cached(clips, **kwargs):
        seen.append(len(clips))
        clock.advance(0.0 if len(seen) == 1 else 1.0 * len(clips))
        return real(clips, **kwargs)

    monkeypatch.setattr(pipeline, "preprocess", first_half_cached)
    budget = bd.Budget(7, clock=clock)
    clock.advance(4.0)                      # 3 s left when the clips start, 1 s a clip: 10 are over budget
    index, _, p = bd.preprocess_within(budget, data, order=np.arange(len(data)), minimum=10, n_jobs=1,
                                       progress=False, **SETTINGS)
    assert not p.fits and seen == [5, 5] and len(index) == 10


def test_a_later_chapter_reuses_the_cached_prefix_of_an_earlier_one_whatever_its_own_plan(monkeypatch, tmp_path):
    from mer_lib.pipeline import cached_clips, preprocess

    data = _tiny_clips()
    order = bd.stratified_order(np.arange(10) % 3)
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 1.0)
    first, _, _ = bd.preprocess_within(bd.Budget(4.5, clock=FakeClock()), data, order=order, minimum=2, n_jobs=1,
                                       cache_dir=tmp_path, progress=False, **SETTINGS)
    def n_cached(**settings):
        return cached_clips(data.frames, tmp_path, apex=data.apex, **settings).sum()

    assert len(first) == 4 and n_cached(**SETTINGS) == 4
    # the later chapter's budget would plan 7 clips; with reuse_cache it takes exactly the earlier 4, measuring none
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: pytest.fail("measured a clip"))
    again, inputs, p = bd.preprocess_within(bd.Budget(7.5, clock=FakeClock()), data, order=order, minimum=2,
                                            n_jobs=1, cache_dir=tmp_path, progress=False, reuse_cache=True, **SETTINGS)
    assert np.array_equal(again, first) and p["clips"] == 4 and "in the cache" in p.describe()
    full = preprocess(data.frames[first], apex=data.apex[first], n_jobs=1, progress=False, **SETTINGS)
    assert np.array_equal(inputs.flow, full.flow)
    assert n_cached(**SETTINGS) == 4                                          # nothing added
    # a cached prefix shorter than the minimum, or other settings, are planned as usual
    monkeypatch.setattr(bd.clips, "clip_seconds", lambda *a, **k: 1.0)
    more, _, p = bd.preprocess_within(bd.Budget(7.5, clock=FakeClock()), data, order=order, minimum=5, n_jobs=1,
                                      cache_dir=tmp_path, progress=False, reuse_cache=True, **SETTINGS)
    assert len(more) == 7 and "one clip took" in p.describe()
    assert n_cached(**SETTINGS) == 7 and n_cached(**dict(SETTINGS, size=6)) == 0


def test_the_book_s_budgets_are_named_and_leave_every_cell_far_below_the_timeout(monkeypatch):
    import yaml

    monkeypatch.delenv(bd.BUDGET_SCALE_VARIABLE, raising=False)
    timeout = yaml.safe_load((Path(__file__).resolve().parents[1] / "_config.yml").read_text())["execute"]["timeout"]
    for name, (full, fast) in bd.BOOK_BUDGETS.items():
        assert 0 < fast and 0 < full <= timeout / 8, (name, full, timeout)
        b = bd.book_budget(name)
        assert b.label == name and b.seconds in (full, fast)
    with pytest.raises(ValueError, match="unknown budget 'nope'"):
        bd.book_budget("nope")


def test_the_first_steps_diagnosed_fit_their_budget_and_a_late_run_gets_fewer():
    cost = bd.TrainingCost(setup_s=4.0, step_s=1.0, predict_s=0.05)
    runs = [bd.StepRun.from_cost("paper", cost, n_probe=20), bd.StepRun.from_cost("stable", cost, n_probe=20)]
    assert runs[0].step_s == pytest.approx(3 * 1.0 + 20 * 0.05)          # gradient (2 steps), step, probe
    assert runs[0].seconds(3) == pytest.approx(4 + 4 * 4.0)             # the probe is measured before step 1 too
    p = bd.plan_steps(60, runs)
    assert p.fits and sum(r.seconds(p["steps"]) for r in runs) <= 60 and p["steps"] in bd.STEP_CHOICES
    clock = FakeClock()
    budget = bd.Budget(60, clock=clock)

    def run(label, n):
        clock.advance(runs[0].seconds(n) * (2.5 if label == "paper" else 1.0))
        return n

    results, ran = bd.run_within(budget, p, runs, run, "steps", bd.STEP_CHOICES)
    assert results["paper"] == p["steps"] and results["stable"] < p["steps"]
    assert ran.degraded and ran["steps_run"] == results and "stable: " in ran.notes[0]
    with pytest.raises(ValueError, match="at least one run"):
        bd.plan_steps(60, [])
