import numpy as np
import pytest

from mer_lib.data import synthetic_dataset
from mer_lib import pipeline
from mer_lib.pipeline import preprocess, process_clip


@pytest.fixture(scope="module")
def tiny():
    return synthetic_dataset(seed=0, counts=(2, 1, 1), n_subjects=2, size=64)


def test_shapes_of_the_two_network_inputs(tiny):
    out = preprocess(tiny, size=32, n_jobs=1, progress=False)
    assert out.frames.shape == (4, 8, 32, 32, 1) and out.flow.shape == (4, 16, 32, 32, 1)
    assert out.frames.dtype == out.flow.dtype == np.float32
    np.testing.assert_allclose(out.frames.mean(axis=(1, 2, 3, 4)), 0, atol=1e-4)   # normalised per clip
    assert set(out.as_dict()) == {"frames", "flow"}


def test_the_eighth_flow_pair_is_onset_to_apex(tiny):
    clip = tiny.frames[0]
    frames, flow = process_clip(clip, apex=int(tiny.apex[0]), magnify=None, size=64)
    from mer_lib.flow import tvl1
    direct = tvl1(clip[0], clip[tiny.apex[0]])
    u8 = flow[7] * np.sqrt(np.mean(flow[:8] ** 2 + flow[8:] ** 2)) / 1.0   # undo the clip's normalisation
    assert np.corrcoef(u8.ravel(), direct[..., 0].ravel())[0, 1] > 0.99
    _, repeated = process_clip(clip, magnify=None, size=64, eighth="repeat")
    np.testing.assert_array_equal(repeated[7], repeated[6])


def test_cache_is_used_and_an_interrupted_run_resumes(tiny, tmp_path, monkeypatch):
    first = preprocess(tiny, size=32, n_jobs=1, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 4
    files[0].unlink()                        # as if interrupted before the last clip was written
    calls = []
    real = pipeline.process_clip

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_clip", counting)
    again = preprocess(tiny, size=32, n_jobs=1, cache_dir=tmp_path, progress=False)
    assert len(calls) == 1                   # only the missing clip is recomputed
    np.testing.assert_array_equal(first.flow, again.flow)
    other = preprocess(tiny, magnify="linear", size=32, n_jobs=1, cache_dir=tmp_path, progress=False)
    assert not np.array_equal(other.flow, first.flow)     # another setting, another cache entry
    assert len(list(tmp_path.iterdir())) == 2


def test_cached_clips_are_read_without_starting_processes(tiny, tmp_path, monkeypatch):
    first = preprocess(tiny, size=32, n_jobs=1, cache_dir=tmp_path, progress=False)
    started = []
    monkeypatch.setattr(pipeline, "run_in_processes", lambda *args, **kwargs: started.append(args))
    again = preprocess(tiny, size=32, n_jobs=2, cache_dir=tmp_path, progress=False)
    assert started == []                     # every clip cached: no pool of processes
    np.testing.assert_array_equal(first.flow, again.flow)
    np.testing.assert_array_equal(first.frames, again.frames)
    next(tmp_path.rglob("*.npz")).unlink()
    next(tmp_path.rglob("*.npz")).unlink()
    preprocess(tiny, size=32, n_jobs=2, cache_dir=tmp_path, progress=False)
    assert len(started) == 1 and len(started[0][1]) == 2     # a pool for the two clips to compute only


def test_two_processes_give_the_same_result(tiny):
    a = preprocess(tiny.frames[:2], size=32, n_jobs=1, progress=False)
    b = preprocess(tiny.frames[:2], size=32, n_jobs=2, progress=False)
    np.testing.assert_allclose(a.flow, b.flow, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [(dict(magnify="cubic"), "magnify"), (dict(flow="farneback"), "flow"),
                                           (dict(size=4), "size"), (dict(eighth="last"), "eighth")])
def test_bad_settings_are_named(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        preprocess(tiny, **kwargs)


def test_empty_selection_is_refused():
    with pytest.raises(ValueError, match="empty"):
        preprocess(np.zeros((0, 8, 32, 32)))


def _stop_preprocessing(tmp_path, send):
    """Start `mer preprocess --jobs 2`, call ``send(pid)`` once two clips are cached; what happened after."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from mer_lib._io import load_npz

    out = tmp_path / "out"
    # `mer` as a terminal's foreground command starts it: SIGINT at its default (KeyboardInterrupt). A test run
    # started in the background (`cmd &`, nohup, some CI runners) hands its children SIGINT ignored, and Python
    # leaves it ignored, as it should for a background job: Ctrl-C would then never reach the command.
    foreground = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                  "sys.argv[0] = 'mer'; runpy.run_module('mer_lib.cli', run_name='__main__')")
    cmd = [sys.executable, "-c", foreground, "preprocess", "--dataset", "synth", "--out", str(out), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        start = time.monotonic()
        while len(list(out.glob("cache/*/*.npz"))) < 2:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() - start < 240, "pre-processing wrote no clip in 240 s"
            time.sleep(0.2)
        send(proc.pid)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    for _ in range(100):                      # the workers (and the resource tracker) are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("processes of the interrupted run are still running")
    files = sorted(out.glob("cache/*/*.npz"))
    time.sleep(1)
    assert sorted(out.glob("cache/*/*.npz")) == files, "clips were still written after the stop"
    assert not list(out.glob("cache/*/.tmp-*")), "a half-written file was left in the cache"
    assert files and all(load_npz(f, keys=("frames", "flow")) is not None for f in files)
    assert not (out / ".mer.lock").exists(), "the command's lock outlived it"
    return proc.returncode, err, stopped_after


def test_ctrl_c_stops_the_parallel_preprocessing_at_once_and_leaves_the_cache_consistent(tmp_path):
    # As a terminal does: SIGINT to the whole process group of `mer preprocess`.
    import os
    import signal

    code, err, stopped_after = _stop_preprocessing(tmp_path, lambda pid: os.killpg(pid, signal.SIGINT))
    assert code == 130, err[-2000:]
    assert stopped_after < 10, f"stopped {stopped_after:.1f} s after Ctrl-C"
    assert err.count("interrupted") == 1 and "Traceback" not in err, err[-2000:]


def test_sigterm_to_the_command_alone_stops_its_workers_too(tmp_path):
    # As `kill`, `timeout` or a supervisor do: SIGTERM to the parent process only, not to its workers.
    import os
    import signal

    code, err, stopped_after = _stop_preprocessing(tmp_path, lambda pid: os.kill(pid, signal.SIGTERM))
    assert code == 143, err[-2000:]
    assert stopped_after < 10, f"stopped {stopped_after:.1f} s after SIGTERM"
    assert err.count("mer: terminated") == 1 and "Traceback" not in err, err[-2000:]


@pytest.mark.parametrize("kwargs, match", [(dict(magnify="cubic"), "magnify must be one of"),
                                           (dict(flow="farneback"), "flow must be one of"),
                                           (dict(eighth="last"), "eighth must be one of"),
                                           (dict(apex=0), "apex must be the index of a frame after the onset"),
                                           (dict(apex=8), "apex must be"), (dict(apex=2.5), "apex must be")])
def test_process_clip_names_what_it_cannot_honour(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        process_clip(tiny.frames[0], **{"magnify": None, **kwargs})


def test_preprocess_refuses_an_apex_out_of_the_clip(tiny):
    with pytest.raises(ValueError, match="clip 1 has 8"):
        preprocess(tiny.frames[:2], magnify=None, apex=[3, 8], n_jobs=1, progress=False)


def test_flow_components_are_scaled_by_their_own_axis_when_frames_are_not_square():
    from scipy import ndimage

    from mer_lib.flow.testdata import texture

    base = ndimage.zoom(texture(128), (0.5, 1.0), order=1)          # 64 rows x 128 columns
    clip = np.stack([ndimage.shift(base, (0.5 * k, 0.5 * k), order=3, mode="nearest") for k in range(3)])
    _, flow = process_clip(clip, apex=2, magnify=None, flow="tvl1", size=32)
    u, v = flow[:3], flow[3:]
    # equal motion along both axes: resized to 32 x 32 the vertical one is twice the horizontal one
    ratio = np.median(v[:2, 8:-8, 8:-8]) / np.median(u[:2, 8:-8, 8:-8])
    assert ratio == pytest.approx(2.0, rel=0.1)


def test_the_registries_are_the_libraries_methods():
    from mer_lib import flow, magnify

    assert pipeline.FLOWS == tuple(flow.METHODS)
    assert pipeline.MAGNIFIERS == tuple(magnify.METHODS) + (None,)


def test_a_worker_gives_its_ffts_one_thread_and_the_setting_does_not_leak(tiny, monkeypatch):
    from mer_lib.magnify.common import current_fft_workers

    seen = []
    monkeypatch.setattr(pipeline, "_clip_job", lambda args: seen.append(current_fft_workers()))
    pipeline._pool_job(None)
    assert seen == [1] and current_fft_workers() == -1


def test_network_inputs_makes_every_kind_from_one_set_of_clips(tiny):
    from mer_lib.pipeline import INPUT_SETTINGS

    frames, flows = pipeline.network_inputs(tiny.frames[:2], ["flow"], apex=tiny.apex[:2], size=32, n_jobs=1,
                                            progress=False)
    direct = preprocess(tiny.frames[:2], *INPUT_SETTINGS["flow"], size=32, apex=tiny.apex[:2], n_jobs=1,
                        progress=False)
    np.testing.assert_array_equal(flows["flow"], direct.flow)
    np.testing.assert_array_equal(frames, direct.frames)
    with pytest.raises(ValueError, match="unknown input kind 'pbvn'"):
        pipeline.network_inputs(tiny.frames[:2], ["pbvn"])


def test_dataset_inputs_goes_from_a_name_to_the_network_inputs_in_one_call(tmp_path):
    from mer_lib.data import load_dataset

    data = pipeline.dataset_inputs("synth", ["flow"], fast=True, size=32, cache_dir=tmp_path, n_jobs=1,
                                   progress=False)
    alone = load_dataset("synth", fast=True, progress=False)
    np.testing.assert_array_equal(data.clips, alone.clips)
    np.testing.assert_array_equal(data.apex, alone.apex)
    assert data.frames.shape == (10, 8, 32, 32, 1) and set(data.flows) == {"flow"}
    assert list((tmp_path / "preprocess").iterdir())         # cached where it said
    with pytest.raises(ValueError, match="unknown input kind"):
        pipeline.dataset_inputs("synth", ["optical flow"], fast=True, progress=False)
