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


def test_progress_bar_is_text_while_the_book_is_built(monkeypatch):
    from tqdm.std import tqdm as text_bar

    monkeypatch.setenv("MER_BOOK_BUILD", "1")
    bar = env.progress_bar(range(3), desc="x", disable=True)
    assert type(bar) is text_bar and list(bar) == [0, 1, 2]


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
