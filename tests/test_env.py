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


def test_importing_tensorflow_after_quiet_tensorflow_prints_no_start_up_noise():
    import subprocess
    import sys

    import pytest

    pytest.importorskip("tensorflow")
    code = "import mer_lib.env; mer_lib.env.quiet_tensorflow(); import tensorflow as tf; print(int(tf.constant(2) + 1))"
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=clean)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr
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
