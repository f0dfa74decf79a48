"""The paper's pre-processing, from a prepared clip to the two network inputs.

For each clip of T frames (8 by default), at the prepared resolution:

1. magnification (phase-based with alpha = 20 by default, as in the paper;
   ``"linear"`` for Eulerian magnification, ``None`` for none);
2. optical flow between consecutive frames of the magnified clip (TV-L1 by
   default; any method of :data:`mer_lib.flow.METHODS`). T frames give T - 1
   consecutive pairs, but the paper feeds 8 horizontal and 8 vertical maps; the
   **eighth pair** is, by default, the flow from the onset to the apex frame,
   which carries the whole expression (``eighth="apex"``); ``"repeat"`` repeats
   the last pair, ``"zero"`` adds zeros;
3. resizing to ``size`` x ``size`` (64): frames by area averaging, flows the
   same way and scaled by the size ratio, so they stay in pixels of the new size;
4. normalisation, per clip: frames to zero mean and unit standard deviation;
   flows divided by the root-mean-square magnitude of the clip's flows.

The frame stream gets the *original* frames (not magnified), the flow stream the
flows of the magnified clip, stacked as the T horizontal maps then the T
vertical maps. Work is spread over processes (one per usable CPU core by default, each
computing its FFTs on one thread; Ctrl-C or SIGTERM stops them within seconds,
see :mod:`mer_lib._pool`), shows a progress bar, and each clip's result is
cached per setting, so an interrupted run continues where it stopped.

:func:`network_inputs` makes the inputs of several kinds at once (raw flow,
phase- or Eulerian-magnified flow) for the clips of
:func:`mer_lib.data.load_dataset`; :func:`dataset_inputs` does both in one call,
from a dataset's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mer_lib import flow as _flow
from mer_lib import magnify as _magnify
from mer_lib._io import atomic_save_npz, atomic_write_text, load_npz, make_folder
from mer_lib._pool import run_in_processes
from mer_lib.env import current_threads
from mer_lib.errors import UserInputError

__all__ = ["preprocess", "cached_clips", "process_clip", "network_inputs", "dataset_inputs", "DatasetInputs",
           "NetworkInputs", "MAGNIFIERS", "FLOWS", "EIGHTH", "INPUT_SETTINGS"]

#: Magnifier names (None: no magnification), read from :data:`mer_lib.magnify.METHODS`.
MAGNIFIERS = tuple(_magnify.METHODS) + (None,)
#: Flow-method names, read from :data:`mer_lib.flow.METHODS`.
FLOWS = tuple(_flow.METHODS)
#: How the T-th flow pair is formed.
EIGHTH = ("apex", "repeat", "zero")
#: The flow inputs the experiments feed the flow stream, by kind: (magnify, alpha). "flow": the flow of the
#: clip itself; "pbvm": of the phase-magnified clip (the paper's, alpha 20); "evm": of the Eulerian-magnified
#: clip; "pbvm5", "pbvm10", "pbvm40": phase-magnified at other alphas (the sweep that tests chapter 7's bound).
INPUT_SETTINGS = {"flow": (None, 0.0), "pbvm": ("phase", 20.0), "evm": ("linear", 20.0),
                  "pbvm5": ("phase", 5.0), "pbvm10": ("phase", 10.0), "pbvm40": ("phase", 40.0)}


@dataclass
class NetworkInputs:
    """The two network inputs of a set of clips.

    Attributes
    ----------
    frames : ndarray, shape (N, T, size, size, 1), float32
        Original frames, normalised per clip.
    flow : ndarray, shape (N, 2T, size, size, 1), float32
        T horizontal then T vertical flow maps of the magnified clip.
    settings : dict
    """

    frames: np.ndarray
    flow: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.frames)

    def as_dict(self, index=None):
        """``{"frames": ..., "flow": ...}`` for a Keras model (optionally a subset)."""
        if index is None:
            return {"frames": self.frames, "flow": self.flow}
        return {"frames": self.frames[index], "flow": self.flow[index]}


_NORM_EPS = 1e-6   # keeps a still clip's normalisation finite (std or RMS 0); small beside any real motion


def _resize(image, size):
    import cv2

    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)


def process_clip(clip, apex=None, magnify="phase", alpha=20.0, flow="tvl1", size=64, eighth="apex",
                 magnify_kwargs=None, flow_kwargs=None):
    """Pre-process one clip: magnify, optical flow, resize, normalise.

    Parameters
    ----------
    clip : ndarray, shape (T, H, W)
        A prepared clip (grey, [0, 1]), onset first.
    apex : int, optional
        Index of the apex frame within the clip, 1 to T - 1 (for
        ``eighth="apex"``); the middle frame, T // 2, when omitted.
    magnify : {"phase", "linear", "riesz", None}
    alpha : float
    flow : {"tvl1", "horn_schunck", "opencv", "skimage"}
    size : int
    eighth : {"apex", "repeat", "zero"}
        How the T-th flow pair is formed (see the module docstring).
    magnify_kwargs, flow_kwargs : dict, optional
        Passed to the magnifier and to the flow method.

    Returns
    -------
    frames : ndarray, shape (T, size, size), float32
    flow : ndarray, shape (2T, size, size), float32

    Raises
    ------
    ValueError
        An unknown ``magnify``, ``flow`` or ``eighth``, a clip not of shape
        (T, H, W), or an ``apex`` that is not a frame after the onset.

    Examples
    --------
    >>> clip = np.random.default_rng(0).random((4, 32, 48))
    >>> frames, flow = process_clip(clip, apex=2, magnify=None, flow="horn_schunck", size=16)
    >>> frames.shape, flow.shape
    ((4, 16, 16), (8, 16, 16))
    """
    _check_choices(magnify, flow, eighth)
    clip = np.asarray(clip, dtype=np.float64)
    if clip.ndim != 3 or clip.shape[0] < 2:
        raise ValueError(f"clip must have shape (T, H, W) with T >= 2, got {clip.shape}")
    t, h, w = clip.shape
    if apex is None:
        apex = t // 2
    elif int(apex) != apex or not 0 < apex < t:
        raise ValueError(f"apex must be the index of a frame after the onset, 1 to {t - 1} for a clip of {t} frames, "
                         f"got {apex!r}")
    apex = int(apex)
    if magnify is None:
        magnified = clip
    else:
        magnified = _magnify.METHODS[magnify](clip, alpha, **(magnify_kwargs or {}))
    estimate = _flow.METHODS[flow]
    flows = [estimate(magnified[k], magnified[k + 1], **(flow_kwargs or {})) for k in range(t - 1)]
    if eighth == "apex":
        flows.append(estimate(magnified[0], magnified[apex], **(flow_kwargs or {})))
    elif eighth == "repeat":
        flows.append(flows[-1])
    else:
        flows.append(np.zeros_like(flows[-1]))
    # resizing W -> size stretches horizontal displacements by size / W, H -> size vertical ones by size / H
    frames = np.stack([_resize(f, size) for f in clip])
    u = np.stack([_resize(f[..., 0], size) * (size / w) for f in flows])
    v = np.stack([_resize(f[..., 1], size) * (size / h) for f in flows])
    frames = (frames - frames.mean()) / (frames.std() + _NORM_EPS)
    rms = np.sqrt(np.mean(u ** 2 + v ** 2)) + _NORM_EPS
    return frames.astype(np.float32), (np.concatenate([u, v]) / rms).astype(np.float32)


def _check_choices(magnify, flow, eighth):
    if magnify not in MAGNIFIERS:
        raise ValueError(f"magnify must be one of {MAGNIFIERS}, got {magnify!r}")
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}, got {flow!r}")
    if eighth not in EIGHTH:
        raise ValueError(f"eighth must be one of {EIGHTH}, got {eighth!r}")


def _worker_setup():
    """In a worker process: the processes already share the cores, so OpenCV gets one thread each."""
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


def _pool_job(args):
    """A clip in a worker process: the processes already share the cores, so each FFT gets one thread."""
    with _magnify.fft_workers(1):
        return _clip_job(args)


def _clip_job(args):
    index, clip, apex, settings, path = args
    if path is not None:
        cached = load_npz(path)
        if cached is not None:
            return index, cached["frames"], cached["flow"], True
    frames, flow = process_clip(clip, apex, **settings)
    if path is not None:
        atomic_save_npz(path, frames=frames, flow=flow)
    return index, frames, flow, False


def _as_clips(clips):
    """(array (N, T, H, W), apex indices or None) from a dataset (anything with ``clips`` and ``apex``:
    :class:`mer_lib.data.Dataset`, :class:`mer_lib.data.SynthME`) or an array; anything else is refused by name."""
    if hasattr(clips, "clips") and hasattr(clips, "apex"):
        return np.asarray(clips.clips), np.asarray(clips.apex)
    if isinstance(clips, (list, tuple)) and clips and hasattr(clips[0], "frame_paths"):
        raise UserInputError("clips must be prepared clips, not ClipRecords: prepare them first "
                             "(mer_lib.data.prepare_clips, or mer_lib.data.load_dataset from the dataset's name)")
    try:
        arr = np.asarray(clips)
    except ValueError:          # a ragged sequence
        arr = None
    if arr is None or arr.ndim != 4 or not np.issubdtype(arr.dtype, np.number):
        got = "clips of different shapes" if arr is None else f"shape {arr.shape}, dtype {arr.dtype}"
        raise UserInputError(f"clips must be a Dataset, a SynthME dataset or an array of shape (N, T, H, W), got "
                             f"a {type(clips).__name__} of {got}")
    return arr, None


def _settings(magnify, alpha, flow, size, eighth, magnify_kwargs, flow_kwargs):
    return dict(magnify=magnify, alpha=float(alpha), flow=flow, size=int(size), eighth=eighth,
                magnify_kwargs=magnify_kwargs or {}, flow_kwargs=flow_kwargs or {})


def _cache_folder(cache_dir, settings):
    tag = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{settings['magnify'] or 'none'}-{settings['flow']}-{settings['size']}-{tag}"


def _clip_path(folder, clip, apex):
    digest = hashlib.sha1(np.ascontiguousarray(clip).tobytes() + str(apex).encode()).hexdigest()[:16]
    return folder / f"{digest}.npz"


def cached_clips(clips, cache_dir, magnify="phase", alpha=20.0, flow="tvl1", size=64, *, apex=None, eighth="apex",
                 magnify_kwargs=None, flow_kwargs=None):
    """Which clips :func:`preprocess` would read from ``cache_dir`` instead of computing.

    Parameters
    ----------
    clips : Dataset, SynthME, or ndarray of shape (N, T, H, W)
    cache_dir : str or Path
    magnify, alpha, flow, size, apex, eighth, magnify_kwargs, flow_kwargs
        As for :func:`preprocess`: the same settings name the same cache.

    Returns
    -------
    ndarray of bool, shape (N,)

    Examples
    --------
    >>> import tempfile
    >>> from mer_lib.data import synthetic_dataset
    >>> clips = synthetic_dataset(seed=0, counts=(1, 1, 0), n_subjects=2, size=32)
    >>> settings = dict(magnify=None, flow="horn_schunck", size=16)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = preprocess(clips.frames[:1], apex=clips.apex[:1], cache_dir=folder, n_jobs=1, progress=False,
    ...                    **settings)
    ...     cached_clips(clips, folder, **settings).tolist()
    [True, False]
    """
    _check_choices(magnify, flow, eighth)
    array, apexes = _as_clips(clips)
    if apex is not None:
        apexes = np.asarray(apex)
    folder = _cache_folder(cache_dir, _settings(magnify, alpha, flow, size, eighth, magnify_kwargs, flow_kwargs))
    return np.array([_clip_path(folder, clip, None if apexes is None else int(apexes[i])).exists()
                     for i, clip in enumerate(array)], dtype=bool)


def preprocess(clips, magnify="phase", alpha=20.0, flow="tvl1", size=64, *, apex=None, eighth="apex",
               magnify_kwargs=None, flow_kwargs=None, cache_dir=None, n_jobs=None, progress=True):
    """Pre-process clips into the two network inputs (magnify, flow, resize, normalise).

    Parameters
    ----------
    clips : Dataset, SynthME, or ndarray of shape (N, T, H, W)
        Prepared clips in [0, 1]: :func:`mer_lib.data.load_dataset`'s
        Dataset, a SynthME dataset (both give their apex frames too), or an
        array such as :func:`mer_lib.data.prepare_clips` returns.
    magnify : {"phase", "linear", "riesz", None}, default "phase"
    alpha : float, default 20
    flow : {"tvl1", "horn_schunck", "opencv", "skimage"}, default "tvl1"
    size : int, default 64
    apex : array_like of int, shape (N,), optional
        Apex index of each clip (taken from a Dataset or SynthME; the middle
        frame otherwise).
    eighth : {"apex", "repeat", "zero"}
        How the eighth flow pair is formed.
    magnify_kwargs, flow_kwargs : dict, optional
    cache_dir : str or Path, optional
        Per-clip cache; a later call with the same clips and settings reads it,
        and an interrupted call continues where it stopped.
    n_jobs : int, optional
        Processes; default: the process count of :func:`mer_lib.env.bounded_threads`
        (every core this process may use, outside a block). 1 runs in this process.
    progress : bool or str
        A progress bar; a string names the part of a larger job this call is
        (it follows the bar's description).

    Returns
    -------
    NetworkInputs
        ``frames`` (N, T, size, size, 1) and ``flow`` (N, 2T, size, size, 1).

    Raises
    ------
    ValueError
        An unknown ``magnify``, ``flow`` or ``eighth``, a ``size`` below 8, an
        empty selection, an ``n_jobs`` below 1, or an apex that is not a frame
        after the onset.

    Examples
    --------
    >>> from mer_lib.data import synthetic_dataset
    >>> clips = synthetic_dataset(seed=0, counts=(1, 1, 0), n_subjects=2, size=64)
    >>> inputs = preprocess(clips, magnify=None, flow="horn_schunck", size=32, n_jobs=1, progress=False)
    >>> inputs.frames.shape, inputs.flow.shape
    ((2, 8, 32, 32, 1), (2, 16, 32, 32, 1))
    """
    _check_choices(magnify, flow, eighth)
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    if n_jobs is not None and (int(n_jobs) != n_jobs or n_jobs < 1):
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    array, apexes = _as_clips(clips)
    if len(array) == 0:
        raise ValueError("no clips to pre-process (empty selection)")
    if apex is not None:
        apexes = np.asarray(apex)
    t = array.shape[1]
    if apexes is not None:
        if apexes.shape != (len(array),):
            raise ValueError(f"apex must hold one index per clip, shape ({len(array)},), got {apexes.shape}")
        bad = np.flatnonzero((apexes < 1) | (apexes >= t))
        if len(bad):
            raise ValueError(f"apex must be the index of a frame after the onset, 1 to {t - 1}: clip {bad[0]} has "
                             f"{apexes[bad[0]]}")
    settings = _settings(magnify, alpha, flow, size, eighth, magnify_kwargs, flow_kwargs)
    folder = None
    if cache_dir is not None:
        folder = _cache_folder(cache_dir, settings)
        make_folder(folder)
        atomic_write_text(folder / "settings.json", json.dumps(settings, sort_keys=True, indent=1))
    jobs = []
    for i, clip in enumerate(array):
        a = None if apexes is None else int(apexes[i])
        jobs.append((i, clip, a, settings, None if folder is None else _clip_path(folder, clip, a)))
    frames = np.empty((len(array), t, size, size), np.float32)
    flows = np.empty((len(array), 2 * t, size, size), np.float32)
    n_jobs = current_threads().processes if n_jobs is None else int(n_jobs)
    bar = None
    if progress:
        from mer_lib.env import progress_bar
        what = f"pre-processing ({magnify or 'no'} magnification, {flow})"
        bar = progress_bar(total=len(jobs), desc=f"{what}, {progress}" if isinstance(progress, str) else what)

    def store(result):
        index, fr, fl, _ = result
        frames[index], flows[index] = fr, fl
        if bar is not None:
            bar.update()

    try:
        # clips already in the cache are read here: a pool of processes (seconds to start, more on a busy
        # machine) only for the clips still to compute
        pending = []
        for job in jobs:
            if job[4] is not None and job[4].exists():
                store(_clip_job(job))
            else:
                pending.append(job)
        jobs = pending
        if n_jobs <= 1 or len(jobs) <= 1:
            for job in jobs:
                store(_clip_job(job))
        else:
            # Ctrl-C or SIGTERM: the workers stop within seconds, before the caller reports it; finished
            # clips stay cached, nothing is half-written
            run_in_processes(_pool_job, jobs, n_jobs, store, initializer=_worker_setup)
    finally:
        if bar is not None:
            bar.close()
    return NetworkInputs(frames[..., None], flows[..., None], settings)


def network_inputs(clips, kinds, *, apex=None, settings=None, size=64, cache_dir=None, n_jobs=None, progress=True):
    """The frames and the flow inputs of several kinds for a set of clips, as the experiments take them.

    Parameters
    ----------
    clips : Dataset, SynthME, or ndarray of shape (N, T, H, W)
        As :func:`preprocess` takes them (``load_dataset(...)`` or its ``clips``).
    kinds : iterable of str
        Flow inputs to make, keys of ``settings`` (``"flow"``, ``"pbvm"``,
        ``"evm"``); empty: the frames alone.
    apex : array_like of int, shape (N,), optional
    settings : dict, optional
        Kind -> ``(magnify, alpha)``; by default :data:`INPUT_SETTINGS`, the
        one registry of the input kinds.
    size : int, default 64
    cache_dir : str or Path, optional
        Per-clip cache (see :func:`preprocess`).
    n_jobs : int, optional
    progress : bool

    Returns
    -------
    frames : ndarray, shape (N, T, size, size, 1), float32
        The frame stream's input (the same for every kind).
    flows : dict of str to ndarray, shape (N, 2T, size, size, 1), float32
        One flow input per kind.

    Raises
    ------
    ValueError
        An unknown kind, or what :func:`preprocess` refuses.

    Examples
    --------
    >>> from mer_lib.data import load_dataset
    >>> data = load_dataset("synth", fast=True, progress=False)
    >>> frames, flows = network_inputs(data.clips[:2], [], apex=data.apex[:2], n_jobs=1, progress=False)
    >>> frames.shape, flows
    ((2, 8, 64, 64, 1), {})
    """
    if settings is None:
        settings = INPUT_SETTINGS
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in settings]
    if unknown:
        raise ValueError(f"unknown input kind {unknown[0]!r}: choose from {', '.join(settings)}")
    common = dict(apex=apex, size=size, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    flows, frames = {}, None
    for kind in kinds:
        magnify, alpha = settings[kind]
        prepared = preprocess(clips, magnify, alpha, **common)
        flows[kind], frames = prepared.flow, prepared.frames
    if frames is None:       # frames alone: no magnification, and the flow is not kept
        frames = preprocess(clips, None, 0.0, **common).frames
    return frames, flows


class DatasetInputs(NamedTuple):
    """A dataset and its network inputs, as :func:`dataset_inputs` returns them.

    Attributes
    ----------
    clips, labels, subjects, apex, class_names
        As :class:`mer_lib.data.Dataset`.
    frames : ndarray, shape (N, T, size, size, 1), float32
    flows : dict of str to ndarray, shape (N, 2T, size, size, 1), float32
    """

    clips: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    apex: np.ndarray
    class_names: list
    frames: np.ndarray
    flows: dict


def dataset_inputs(name, kinds=("pbvm",), root=None, *, fast=False, seed=0, size=64, cache_dir=None, n_jobs=None,
                   progress=True):
    """From a dataset's name to its clips, labels, subjects, apex frames and network inputs, in one call.

    :func:`mer_lib.data.load_dataset`, then :func:`network_inputs`; what the
    ``mer`` command does before training.

    Parameters
    ----------
    name : str
        A key of :data:`mer_lib.data.DATASETS`.
    kinds : iterable of str, default ("pbvm",)
        Flow inputs to make (keys of :data:`INPUT_SETTINGS`).
    root : str or Path, optional
        The folder of a licensed copy (every dataset but ``"synth"``).
    fast : bool, default False
        ``"synth"`` only: 10 small clips.
    seed : int, default 0
    size : int, default 64
    cache_dir : str or Path, optional
        Caches the prepared clips (``clips/``) and the pre-processed ones
        (``preprocess/``) under this folder.
    n_jobs : int, optional
    progress : bool

    Returns
    -------
    DatasetInputs
        ``(clips, labels, subjects, apex, class_names, frames, flows)``, a named tuple.

    Raises
    ------
    ValueError
        An unknown dataset or input kind, or no ``root`` for a licensed database.

    Examples
    --------
    >>> data = dataset_inputs("synth", ["flow"], fast=True, n_jobs=1, progress=False)
    >>> data.frames.shape, data.flows["flow"].shape, data.class_names
    ((10, 8, 64, 64, 1), (10, 16, 64, 64, 1), ['negative', 'positive', 'surprise'])
    """
    from mer_lib.data.datasets import load_dataset

    kinds = list(kinds)
    unknown = [k for k in kinds if k not in INPUT_SETTINGS]
    if unknown:      # before the (possibly long) preparation of the clips
        raise ValueError(f"unknown input kind {unknown[0]!r}: choose from {', '.join(INPUT_SETTINGS)}")
    cache = None if cache_dir is None else Path(cache_dir)
    data = load_dataset(name, root, fast=fast, seed=seed, progress=progress,
                        cache_dir=None if cache is None else cache / "clips")
    frames, flows = network_inputs(data.clips, kinds, apex=data.apex, size=size, n_jobs=n_jobs, progress=progress,
                                   cache_dir=None if cache is None else cache / "preprocess")
    return DatasetInputs(*data, frames, flows)
