import os

import mer_lib
from mer_lib import env


def test_fast_mode_follows_the_variable(monkeypatch):
    monkeypatch.setenv("MER_FAST", "1")
    assert env.fast_mode() and env.pick(100, 2) == 2
    monkeypatch.setenv("MER_FAST", "0")
    assert not env.fast_mode() and env.pick(100, 2) == 100
    monkeypatch.delenv("MER_FAST")
    assert not env.fast_mode()


def test_print_setup_names_the_version_and_the_gpu(capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    env.print_setup()
    out = capsys.readouterr().out
    assert f"mer_lib {mer_lib.__version__}" in out
    assert "GPU: none" in out


def test_widgets_are_live_except_while_the_book_is_built(monkeypatch):
    monkeypatch.delenv("MER_BOOK_BUILD", raising=False)
    assert env.live_widgets()
    monkeypatch.setenv("MER_BOOK_BUILD", "1")
    assert not env.live_widgets()


def test_progress_bar_prints_one_summary_line_while_the_book_is_built(monkeypatch):
    import io

    monkeypatch.setenv("MER_BOOK_BUILD", "1")
    assert env.progress_mode() == "summary"
    out = io.StringIO()
    assert list(env.progress_bar(range(3), desc="clips", file=out)) == [0, 1, 2]
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue()   # no redrawn states, one line
    assert out.getvalue().startswith("clips: 3/3 done in ")
    out = io.StringIO()
    with env.progress_bar(total=4, initial=1, desc="runs", file=out) as bar:
        bar.update()
    assert out.getvalue().startswith("runs: stopped at 2/4 after ")   # an interrupted run says so
    out = io.StringIO()
    env.progress_bar(range(3), desc="quiet", file=out, disable=True).close()
    assert out.getvalue() == ""


def test_progress_bar_summarises_where_stderr_is_no_terminal_and_redraws_where_it_is(monkeypatch):
    import sys

    from tqdm.std import tqdm as text_bar

    monkeypatch.delenv("MER_BOOK_BUILD", raising=False)
    monkeypatch.setattr(env, "_in_notebook_kernel", lambda: False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert env.progress_mode() == "summary"          # a log file, a pipe, CI
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert env.progress_mode() == "text"
    bar = env.progress_bar(range(2), disable=True)
    assert type(bar) is text_bar


def test_progress_bar_is_live_in_a_notebook_kernel(monkeypatch):
    from tqdm.auto import tqdm as auto_bar

    monkeypatch.delenv("MER_BOOK_BUILD", raising=False)
    monkeypatch.setattr(env, "_in_notebook_kernel", lambda: True)
    assert env.progress_mode() == "live"
    bar = env.progress_bar(range(2), disable=True)
    assert isinstance(bar, auto_bar)
    monkeypatch.setenv("MER_BOOK_BUILD", "1")       # a kernel that the book's build started
    assert env.progress_mode() == "summary"


# --- bounded threads ------------------------------------------------------------------------------------------

def test_usable_cores_are_the_affinity_mask_s():
    if hasattr(os, "sched_getaffinity"):
        assert env.usable_cores() == len(os.sched_getaffinity(0))
    assert env.usable_cores() >= 1


def test_thread_settings_size_every_pool_from_the_cores():
    s = env.thread_settings(cores=6)
    assert (s.cores, s.tf_intra_op, s.tf_inter_op, s.blas, s.opencv, s.fft, s.processes) == (6, 6, 1, 6, 6, 6, 6)
    assert env.thread_settings(cores=6, processes=2, tf_inter_op=2).processes == 2
    assert "6 usable cores" in s.describe() and "pre-processing in 6 processes" in s.describe()
    assert env.thread_settings().cores == env.usable_cores()


import pytest  # noqa: E402


@pytest.mark.parametrize("overrides, match", [({"threads": 2}, "unknown thread setting 'threads'"),
                                              ({"processes": 0}, "processes must be a positive integer"),
                                              ({"blas": 1.5}, "blas must be a positive integer"),
                                              ({"fft": True}, "fft must be a positive integer")])
def test_thread_settings_refuse_what_is_not_a_count(overrides, match):
    with pytest.raises(ValueError, match=match):
        env.thread_settings(cores=2, **overrides)


def _blas_threads():
    from threadpoolctl import threadpool_info

    return sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})


def test_bounded_threads_sets_every_pool_and_restores_it_even_after_an_error(monkeypatch):
    cv2 = pytest.importorskip("cv2")
    from mer_lib.magnify.common import current_fft_workers

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = (cv2.getNumThreads(), current_fft_workers(), _blas_threads(), env.current_threads())
    with pytest.raises(KeyError):
        with env.bounded_threads(env.thread_settings(cores=4), blas=1, opencv=3, fft=2, processes=2) as s:
            assert s.processes == 2 and env.current_threads() == s
            assert cv2.getNumThreads() == 3 and current_fft_workers() == 2
            assert all(n == 1 for _, n in _blas_threads())
            assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "2"   # 4 cores / 2
            assert os.environ["TF_NUM_INTRAOP_THREADS"] == "4" and os.environ["TF_NUM_INTEROP_THREADS"] == "1"
            with env.bounded_threads(processes=1):                 # blocks nest
                assert env.current_threads().processes == 1
            assert env.current_threads() == s
            raise KeyError("an error in the block")
    assert (cv2.getNumThreads(), current_fft_workers(), _blas_threads(), env.current_threads()) == before
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


def test_the_pre_processing_starts_the_context_s_number_of_processes(monkeypatch):
    import numpy as np

    from mer_lib import pipeline

    def no_pool(function, jobs, n_processes, *args, **kwargs):
        raise RuntimeError(f"a pool of {n_processes}")

    monkeypatch.setattr(pipeline, "run_in_processes", no_pool)
    clips = np.random.default_rng(0).random((2, 3, 16, 16))
    kwargs = dict(magnify=None, flow="horn_schunck", size=8, progress=False,
                  flow_kwargs={"n_warps": 1, "max_iterations": 5})
    with env.bounded_threads(processes=1):
        assert pipeline.preprocess(clips, **kwargs).frames.shape == (2, 3, 8, 8, 1)     # in this process
    with env.bounded_threads(processes=2):
        with pytest.raises(RuntimeError, match="a pool of 2"):
            pipeline.preprocess(clips, **kwargs)


TF_SCRIPT = """
import json, os
import mer_lib
from mer_lib import env
{before}
with env.bounded_threads(tf_intra_op=1, tf_inter_op=2):
    import tensorflow as tf
    tf.constant(1.0) + 1.0                        # TensorFlow's runtime starts in the block
with env.bounded_threads(tf_intra_op=2, tf_inter_op=1):
    pass                                          # too late: the pools stay
print(json.dumps({{"pools": env.tensorflow_pools(), "env": os.environ.get("TF_NUM_INTRAOP_THREADS")}}))
"""


@pytest.mark.parametrize("before", ["", "mer_lib.env.quiet_tensorflow(); import tensorflow"],
                         ids=["imported-in-the-block", "imported-before-after-quiet-tensorflow"])
def test_tensorflow_s_pools_are_set_by_the_block_in_which_its_runtime_starts_and_then_stay(before):
    """Also: TensorFlow imported after quiet_tensorflow, and its runtime started, print no start-up noise (each
    TensorFlow start costs 12 s of CPU on 2 cores, so the second case checks both)."""
    import json
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TF_NUM_") and k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", TF_SCRIPT.format(before=before)], capture_output=True, text=True,
                         timeout=600, env=clean)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"pools": {"intra_op": 1, "inter_op": 2, "set_by": "bounded_threads"}, "env": None}
    if "quiet_tensorflow" in before:
        for word in ("cudart_stub", "oneDNN", "absl", "cuda"):
            assert word not in out.stderr, out.stderr


def test_importing_the_library_changes_nothing_in_the_interpreter():
    import subprocess
    import sys

    code = ("import os, sys; before = (list(sys.meta_path), os.environ.get('TF_CPP_MIN_LOG_LEVEL')); "
            "import mer_lib, mer_lib.experiments, mer_lib.cli; "
            "print(before == (list(sys.meta_path), os.environ.get('TF_CPP_MIN_LOG_LEVEL')), "
            "'tensorflow' in sys.modules)")
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=clean)
    assert out.returncode == 0 and out.stdout.split() == ["True", "False"], out.stderr[-2000:]


def test_the_tensorflow_log_level_is_restored_after_the_block():
    import pytest

    tf = pytest.importorskip("tensorflow")
    logger = tf.get_logger()
    logger.setLevel("INFO")
    with env.tensorflow_log_level("ERROR"):
        assert logger.level == 40
    assert logger.level == 20


# --- garbage collection between trainings ---------------------------------------------------------------------------

class _Cycle:
    """An object in a reference cycle: only the cyclic garbage collector frees it."""

    def __init__(self):
        self.me = self


def test_collect_garbage_frees_new_cycles_every_call_and_frozen_ones_at_the_next_full_call(monkeypatch):
    import gc
    import weakref

    monkeypatch.setattr(env, "_collections", [0])
    try:
        held = _Cycle()                                   # alive at the first (full) call: frozen with the survivors
        assert env.collect_garbage(full_every=3) is True
        old = weakref.ref(held)
        del held                                          # now garbage, but frozen: the partial calls skip it
        new = _Cycle()
        made_after = weakref.ref(new)
        del new                                           # garbage made after the freeze
        assert env.collect_garbage(full_every=3) is False
        assert made_after() is None, "a cycle made since the last full call outlived a partial one"
        assert old() is not None
        assert env.collect_garbage(full_every=3) is False and old() is not None
        assert env.collect_garbage(full_every=3) is True      # the fourth call: one in 3, the first included
        assert old() is None, "a frozen cycle outlived the next full collection"
    finally:
        gc.unfreeze()


def test_collect_garbage_refuses_a_count_that_is_not_positive():
    from mer_lib.errors import UserInputError

    with pytest.raises(UserInputError, match="full_every: expected a positive number of calls, got 0"):
        env.collect_garbage(full_every=0)
    with pytest.raises(UserInputError, match="full_every: expected a positive number of calls, got 2.5"):
        env.collect_garbage(full_every=2.5)


# --- Keras' backend and versions without importing them ---------------------------------------------------------------

def test_keras_backend_follows_keras_rule_before_keras_is_imported(tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    monkeypatch.delitem(sys.modules, "keras", raising=False)           # as in a process that never imported it
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "none"))
    assert env.keras_backend() == "tensorflow"                        # no configuration: Keras' default
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "numpy"}))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert env.keras_backend() == "numpy"                             # the configuration file
    monkeypatch.setenv("KERAS_BACKEND", "")
    assert env.keras_backend() == "numpy"                             # an empty variable changes nothing
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert env.keras_backend() == "jax"                               # the variable wins
    monkeypatch.delenv("KERAS_BACKEND")
    # and Keras itself agrees (its NumPy backend: no framework to import), with nothing imported before the answer
    code = ("import sys; from mer_lib.env import keras_backend; ours = keras_backend(); before = 'keras' in sys.modules; "
            "import keras; print(ours, before, keras.backend.backend())")
    clean = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**clean, "KERAS_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["numpy", "False", "numpy"]


def test_package_version_reads_the_installed_version_without_importing():
    import importlib.metadata
    import sys

    import numpy

    assert env.package_version("numpy") == numpy.__version__
    assert env.package_version("pytest") == importlib.metadata.version("pytest")
    assert env.package_version("no_such_module_here") is None
    assert "no_such_module_here" not in sys.modules
