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
