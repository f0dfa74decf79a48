"""`reproduce` through the batched trainer on JAX: the same results folder as the per-run path (run by tests/test_batched.py)."""

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("jax")

from mer_lib import experiments as ex  # noqa: E402
from mer_lib.experiments import batched_runs  # noqa: E402

assert keras.backend.backend() == "jax"

ROWS = (ex.TABLE3[2], ex.CONTROLS[2])          # the two-stream network and its flow stream alone: two programs
PLAN = dict(rows=ROWS, recipes=("stable",), protocols=("loso",), n_folds=2, epochs=2,
            batch_size=4, class_names=["negative", "positive", "surprise"], progress=False, command="pytest")


def _tiny():
    rng = np.random.default_rng(0)
    n = 12
    frames = rng.normal(size=(n, 4, 8, 8, 1)).astype(np.float32)
    flows = {"pbvm": rng.normal(size=(n, 8, 8, 8, 1)).astype(np.float32)}
    return frames, flows, np.tile([0, 1, 2], 4), np.repeat(["s1", "s2", "s3", "s4"], 3)


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


def test_a_folder_written_by_the_batched_path_validates_and_summarises_like_the_per_run_one(tmp_path, monkeypatch):
    frames, flows, labels, subjects = _tiny()
    batched_out, fit_out = tmp_path / "batched", tmp_path / "fit"
    batches = []
    real = batched_runs.batched_groups

    def counting(*args, **kwargs):
        found = real(*args, **kwargs)
        batches.extend(len(jobs) for _, jobs in found)
        return found

    monkeypatch.setattr(batched_runs, "batched_groups", counting)
    table_b = ex.reproduce(batched_out, frames, flows, labels, subjects, **PLAN)          # trainer "auto": JAX
    # the per-run path on the flow stream alone: Keras' own loop compiles the two-stream network for 30 s a fold on a
    # CPU, and the batched trainer's two-stream runs are checked against it in tests/jax/test_batched_jax.py
    table_f = ex.reproduce(fit_out, frames, flows, labels, subjects, trainer="fit", **{**PLAN, "rows": ROWS[1:]})
    assert batches == [2, 2]          # one program per architecture, with its 2 folds
    prov_b, prov_f = ex.validate_results(batched_out), ex.validate_results(fit_out)
    assert prov_b["trainer"] == "batched" and prov_f["trainer"] == "keras fit"
    assert prov_b["batch_runs"] == 2 and prov_f["batch_runs"] == 1
    assert prov_b["precision"] == prov_f["precision"] == "float32"
    rec_b, rec_f = _records(batched_out), _records(fit_out)
    assert len(rec_b) == 4 and len(rec_f) == 2 and set(rec_f) < set(rec_b)
    for job, f in rec_f.items():
        b = rec_b[job]
        assert b["identity"] == f["identity"], job          # the same fold of the same plan
        assert (b["trainer"], b["batch_runs"], f["trainer"], f["batch_runs"]) == ("batched", 2, "keras fit", 1)
        assert sorted(set(b) - {"trainer", "batch_runs", "precision"}) == sorted(set(f) - {"trainer", "batch_runs",
                                                                                            "precision"})
        assert b["test_index"] == f["test_index"] and b["y_true"] == f["y_true"]
        # the two trainers end with the same weights (tests/jax/test_batched_jax.py): the same predictions
        np.testing.assert_allclose(b["probabilities"], f["probabilities"], atol=2e-3, err_msg=job)
        np.testing.assert_allclose(b["history"]["loss"], f["history"]["loss"], rtol=2e-3, err_msg=job)
    timing = [c for c in table_b.columns if "second" in c]
    flow_rows = table_b[table_b["row"].isin(table_f["row"])].reset_index(drop=True)
    assert len(flow_rows) == len(table_f) < len(table_b)
    pd.testing.assert_frame_equal(flow_rows.drop(columns=timing), table_f.drop(columns=timing), atol=1e-6)


def test_an_interrupted_batched_reproduction_trains_only_the_batch_it_lost(tmp_path, monkeypatch):
    frames, flows, labels, subjects = _tiny()
    plan = {**PLAN, "rows": ROWS[1:], "epochs": 1}
    out = tmp_path / "results"
    ex.reproduce(out, frames, flows, labels, subjects, **plan)
    before = _records(out)
    lost = sorted(before)[0]
    (out / "runs" / f"{lost}.json").unlink()
    trained = []
    real = batched_runs.batched_groups

    def counting(jobs, *args, **kwargs):
        trained.extend(j.job_id for j in jobs)
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(batched_runs, "batched_groups", counting)
    ex.reproduce(out, frames, flows, labels, subjects, **plan)
    assert trained == [lost]
    after = _records(out)
    assert after[lost]["identity"] == before[lost]["identity"]
    np.testing.assert_allclose(after[lost]["probabilities"], before[lost]["probabilities"], atol=1e-4)
    ex.validate_results(out)


def test_nested_choices_train_in_the_batches_of_their_programs_and_an_interruption_loses_none(tmp_path, monkeypatch):
    """Each recipe of the nested grid is one inner training, batched with the folds of its program; the inner score
    of a finished batch is kept, so a reproduction interrupted between the two programs trains only the second."""
    import mer_lib.batched

    frames, flows, labels, subjects = _tiny()
    plan = {**PLAN, "rows": (ex.CONTROLS[1],), "recipes": ("paper", "stable"), "protocols": ("paper",),
            "repeats": 1, "epochs": 1, "nested": ex.NESTED_GRID}
    batches = []
    real_groups, real_train = batched_runs.batched_groups, mer_lib.batched.train_many

    def counting(jobs, *args, **kwargs):
        found = real_groups(jobs, *args, **kwargs)
        batches.extend(sorted(j.job_id for j in members) for _, members in found)
        return found

    monkeypatch.setattr(batched_runs, "batched_groups", counting)
    whole = tmp_path / "whole"
    ex.reproduce(whole, frames, flows, labels, subjects, **plan)
    key = ex.CONTROLS[1].key
    nested_job = f"{key}__nested__paper__r0__f0"
    # one program per recipe (the stable recipe's batch normalisation changes it), each with its inner training
    assert batches == [sorted([f"{key}__paper__paper__r0__f0", f"{nested_job}__inner-paper"]),
                       sorted([f"{key}__stable__paper__r0__f0", f"{nested_job}__inner-stable"])]
    prov = ex.validate_results(whole)
    assert (prov["trainer"], prov["batch_runs"]) == ("batched", 2)
    rec = _records(whole)
    assert (rec[nested_job]["trainer"], rec[nested_job]["batch_runs"]) == ("batched", 2)
    choice = rec[nested_job]["nested"]
    assert choice["chosen"] in ex.NESTED_GRID and set(choice["scores"]) == set(ex.NESTED_GRID)

    calls = []

    def stopped_at_the_second_program(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt          # the runtime disconnects between the two programs
        return real_train(*args, **kwargs)

    part = tmp_path / "part"
    monkeypatch.setattr(mer_lib.batched, "train_many", stopped_at_the_second_program)
    with pytest.raises(KeyboardInterrupt):
        ex.reproduce(part, frames, flows, labels, subjects, **plan)
    assert sorted(_records(part)) == [f"{key}__paper__paper__r0__f0"]
    assert [p.name for p in (part / "checkpoints" / "nested").iterdir()] == [f"{nested_job}__inner-paper.json"]
    monkeypatch.setattr(mer_lib.batched, "train_many", real_train)
    batches.clear()
    ex.reproduce(part, frames, flows, labels, subjects, **plan)
    assert batches == [sorted([f"{key}__stable__paper__r0__f0", f"{nested_job}__inner-stable"])]
    again = _records(part)
    assert sorted(again) == sorted(rec)
    assert again[nested_job]["nested"]["chosen"] == choice["chosen"]
    for recipe in ex.NESTED_GRID:
        assert again[nested_job]["nested"]["scores"][recipe]["final_loss"] == pytest.approx(
            choice["scores"][recipe]["final_loss"], rel=1e-4)
    assert not (part / "checkpoints").exists()
