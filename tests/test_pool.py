"""mer_lib._pool: worker processes replaced after a number of items (the signal handling is tested
with the commands that use it, in test_runner and test_pipeline)."""

import os

import pytest

from mer_lib._pool import run_in_processes


def _pid(item):
    return item, os.getpid()


def _run(items, n_jobs, **kwargs):
    seen = []
    run_in_processes(_pid, items, n_jobs, seen.append, **kwargs)
    return dict(seen)


def test_one_worker_runs_every_item_by_default():
    pids = _run(range(5), 1)
    assert sorted(pids) == [0, 1, 2, 3, 4] and len(set(pids.values())) == 1
    assert os.getpid() not in pids.values()


def test_a_worker_is_replaced_after_tasks_per_process_items():
    pids = _run(range(5), 1, tasks_per_process=2)
    assert sorted(pids) == [0, 1, 2, 3, 4]                       # nothing dropped, nothing run twice
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]   # rounds of two items, a fresh process each
    assert len(set(pids.values())) == 3


def test_with_two_workers_no_process_outlives_its_round():
    pids = _run(range(6), 2, tasks_per_process=1)
    assert sorted(pids) == list(range(6))
    rounds = [{pids[i] for i in range(r, r + 2)} for r in range(0, 6, 2)]
    assert not rounds[0] & rounds[1] and not rounds[1] & rounds[2]


@pytest.mark.parametrize("bad", [0, -1, True])
def test_a_bad_tasks_per_process_is_refused_before_any_work(bad):
    seen = []
    with pytest.raises(ValueError, match="tasks_per_process"):
        run_in_processes(_pid, range(3), 1, seen.append, tasks_per_process=bad)
    assert seen == []
