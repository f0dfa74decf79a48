import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("MER_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# --- where the suite's time goes: CPU seconds per test (this process and the processes it waited for) ---------

def pytest_addoption(parser):
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="show the N tests (setup, call, teardown) that used the most CPU time, this process's "
                          "and its finished children's (kernels, subprocesses, pools): the work, not the wait")


_CPU = []


def _cpu_seconds():
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def chapter_cache(tmp_path_factory):
    """One MER_CACHE for every chapter the tests execute, as `make book` shares book/.mer_cache.

    The first execution of a chapter computes (chapter 11 reads what chapter
    10 pre-processed, as in the book's build); a later one (the student
    edition's run) reads the cache, as a reader's second run does, and
    resumes from the checkpoints. So each chapter's cold path and its warm
    path are both executed, once each. Under pytest-xdist there is one per
    worker, and a chapter's tests run on one worker (``chapter_group``).
    """
    return tmp_path_factory.mktemp("mer_cache")


@pytest.fixture(scope="module")
def keras_steps_eager():
    """:func:`tests.keras_eager.keras_steps_run_eagerly` for the tests of one module."""
    from tests.keras_eager import keras_steps_run_eagerly

    with keras_steps_run_eagerly():
        yield


@pytest.fixture
def steps_eager():
    """:func:`tests.keras_eager.keras_steps_run_eagerly` for one test: one of what is done around the steps
    (checkpoints, notices, refusals, masks, budgets) in a module whose other tests keep the steps traced."""
    from tests.keras_eager import keras_steps_run_eagerly

    with keras_steps_run_eagerly():
        yield


# --- parallel runs (pytest-xdist, `-n 2 --dist loadgroup` in pyproject's addopts) -----------------------------------
#
# Each worker is a process of its own, with its own session fixtures (chapter_cache above) and module fixtures.
# A test goes to the worker of its scope: a chapter's tests (marked `chapter`: its execution through the book's
# executor, the check of its outputs, which reads that execution, and the student edition's run, which reads its
# cache) share one; every other test goes with its module, whose fixtures are then built once.
#
# The scope is computed here, from the test's id, by the scheduler below (the controller process sees only ids).
# pytest-xdist's own `loadgroup` cannot be relied on: it appends the group to each item's `_nodeid`, which pytest 9
# no longer reads (it keeps the id in `_id`), so under pytest 9 every test was scheduled alone: a chapter's output
# check executed the chapter a second time on the other worker, and module fixtures were built twice.

#: The tests that execute a chapter or read its execution (marked `chapter`), by "file::function".
CHAPTER_TESTS = {
    "tests/test_book.py::test_chapter_executes_in_fast_mode_through_the_books_executor_without_stall_or_noise",
    "tests/test_book.py::test_chapter_outputs_are_clean",
    "tests/test_student.py::test_student_notebook_runs_and_each_exercise_answers_not_attempted",
}


#: Tests, by "file::function", each of whose parametrisations is a scope of its own: long ones that share no
#: fixture with the rest of their module (each runs a module of tests/jax/ in a child process).
ALONE = {"tests/test_batched.py::test_the_batched_trainer_on_the_jax_backend"}


#: Modules that share a session fixture too costly to build on both workers: one scope (the experiments' `results`,
#: a reproduction of 16 trainings, tests/experiments/conftest.py).
SHARED = {f"tests/experiments/{name}.py": "experiments: the session's results folder"
          for name in ("test_folder", "test_results", "test_runner")}
#: The longest scopes, longest first: scheduled first, so that the two workers end together instead of one waiting
#: while the other finishes a long scope taken last. The others follow in their order of collection. Seconds: the
#: wall time of the scope's tests summed, in a profile of the whole suite on 2 cores (12-03, commit 45ecd74).
LONGEST_FIRST = ["chapters-10-11",                                                                     # 203 s
                 "experiments: the session's results folder", "tests/test_train.py", "tests/test_cli.py",  # 119-84 s
                 "tests/test_pipeline.py",                                                             # 70 s
                 "tests/test_batched.py::test_the_batched_trainer_on_the_jax_backend[test_batched_jax.py]",
                 "chapter-14_where_the_network_looks",                                                 # 64 s each
                 "tests/test_batched.py::test_the_batched_trainer_on_the_jax_backend[test_reproduce_batched_jax.py]",
                 "chapter-13_apex_frame", "chapter-07_phase_based_magnification",                      # 60-46 s
                 "chapter-04_tvl1", "tests/test_models.py", "tests/test_apex.py"]                      # 36-34 s


def chapter_group(stem: str) -> str:
    """The xdist scope of a chapter's tests; chapter 11 reads what chapter 10 pre-processed, so they share one."""
    return "chapters-10-11" if stem[:2] in ("10", "11") else f"chapter-{stem}"


def xdist_scope(nodeid: str) -> str:
    """The scope of a test id: its chapter's (a test of CHAPTER_TESTS, parametrised by the chapter), else its file."""
    base = nodeid.split("@", 1)[0]                   # an older pytest may carry xdist's "@group" suffix
    function, _, param = base.partition("[")
    if function in CHAPTER_TESTS and param:
        return chapter_group(param.rstrip("]"))
    if function in ALONE:
        return base
    module = base.split("::", 1)[0]
    return SHARED.get(module, module)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") not in ("loadgroup", "loadscope"):
        return None                                 # another mode asked for on the command line: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ChapterScopeScheduling(LoadScopeScheduling):
        """pytest-xdist's scope scheduling with the scopes of :func:`xdist_scope`."""

        def _split_scope(self, nodeid):
            return xdist_scope(nodeid)

    config.option.loadscopereorder = False          # keep the order of collection, set below
    return ChapterScopeScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    # the longest scopes first; within a scope the order of collection (a chapter's execution before its checks)
    rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_scope(item.nodeid), len(rank)))
    # CHAPTER_TESTS is what the scheduler reads; a test marked `chapter` but missing from it would run on any worker
    marked = {item.nodeid.split("[", 1)[0] for item in items if item.get_closest_marker("chapter") is not None}
    missing = sorted(marked - CHAPTER_TESTS)
    if missing:
        raise pytest.UsageError(f"tests/conftest.py: add {missing} to CHAPTER_TESTS (they are marked `chapter`)")


def _measured(item, when):
    t = _cpu_seconds()
    yield
    item.__dict__.setdefault("_mer_cpu", {})[when] = _cpu_seconds() - t


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _measured(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _measured(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield from _measured(item, "teardown")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # on the report, which pytest-xdist carries from its worker to the process that prints the summary
    report = (yield).get_result()
    cpu = item.__dict__.get("_mer_cpu", {}).get(call.when)
    if cpu is not None:
        report.user_properties.append(("cpu_seconds", cpu))


def pytest_runtest_logreport(report):
    cpu = dict(report.user_properties).get("cpu_seconds")
    if cpu is not None:
        _CPU.append((cpu, report.when, report.nodeid))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config.getoption("--cpu-durations")
    if not n:
        return
    total = sum(c for c, _, _ in _CPU)
    terminalreporter.write_sep("=", f"most CPU time ({total:.0f} s in all)")
    for cpu, when, nodeid in sorted(_CPU, reverse=True)[:n]:
        terminalreporter.write_line(f"{cpu:8.1f}s {when:8s} {nodeid}")
