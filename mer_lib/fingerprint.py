"""Fingerprints of a dataset's network inputs that survive a change of machine, and what the pre-processing ran on.

An exact hash of the inputs (:func:`mer_lib.train.data_fingerprint`) changes
with the last bit of any value, and floating-point pre-processing does not give
the same last bits everywhere: NumPy and OpenCV choose SIMD kernels at run time
by the CPU's instruction sets (AVX2 here, AVX-512 on many servers), and those
kernels round elementary functions (exp, sin, cos, arctan2...) and reductions
differently; the chain synthesis -> phase magnification -> TV-L1 (hundreds of
iterations) -> resizing then carries a one-ulp difference into most values of
the network's inputs, at a size far below anything a network could notice.
The folder ``book/results/full`` records the exact hash made on its GPU machine
(Python 3.12, NumPy 2.5.2), which a 2-core CPU machine cannot reproduce with
the same code (``02d3f87b...`` there, ``3030d3f6...`` here).

So a results folder records, beside the exact hash, a *sketch* of each input
array (:func:`input_sketch`): per clip, its mean and root mean square, and a
few random projections of the whole array (fixed ±1 vectors drawn from a
seeded PCG64 stream, the same on every machine). A sketch moves continuously
with the data: rounding noise moves it by about the noise's size, other data
(another seed, alpha, flow method, clip) by about the data's. :func:`compare_sketches`
accepts two sketches within a relative tolerance and names what differs;
:func:`check_folder_data` says whether a results folder's data are the data a
chapter loaded, or why that cannot be told. :func:`preprocessing_versions`
records what the pre-processing ran on: every library it uses and the
instruction sets NumPy and OpenCV dispatched to.
"""

from __future__ import annotations

import hashlib
import platform

import numpy as np

__all__ = ["input_sketch", "compare_sketches", "preprocessing_versions", "check_folder_data", "SKETCH_TOLERANCE",
           "N_PROJECTIONS"]

#: Random projections per array.
N_PROJECTIONS = 8
#: Two sketches agree when every value differs by at most this fraction of the array's root mean square.
SKETCH_TOLERANCE = 1e-3


def _exact(value):
    value = np.ascontiguousarray(value)
    return hashlib.blake2b(f"{value.shape}{value.dtype}".encode() + value.tobytes(), digest_size=8).hexdigest()


def _sketch_array(x, n_projections):
    x = np.asarray(x)
    flat = x.reshape(len(x), -1).astype(np.float64)
    n = flat.size
    rms = float(np.sqrt(np.mean(flat ** 2)))
    projections = []
    for j in range(n_projections):
        signs = np.random.default_rng([20231, j]).integers(0, 2, size=flat.shape, dtype=np.int8) * 2 - 1
        projections.append(float(np.sum(flat * signs) / np.sqrt(n)))
    return {"shape": list(x.shape), "dtype": str(x.dtype), "rms": rms,
            "clip_mean": [float(v) for v in flat.mean(axis=1)],
            "clip_rms": [float(v) for v in np.sqrt(np.mean(flat ** 2, axis=1))],
            "projections": projections}


def input_sketch(inputs, labels, groups=None, n_projections=N_PROJECTIONS):
    """A sketch of a dataset's inputs that agrees across machines within rounding noise.

    Parameters
    ----------
    inputs : dict of str to ndarray, each shape (N, ...)
        The network inputs by name (``frames``, ``flow_pbvm``...).
    labels : array_like, shape (N,)
    groups : array_like, shape (N,), optional
        The subjects.
    n_projections : int

    Returns
    -------
    dict
        ``arrays``: per input, ``shape``, ``dtype``, ``rms``, ``clip_mean`` and
        ``clip_rms`` (N values each) and ``projections``; ``labels`` and
        ``groups``: exact hashes (integers and names have no rounding).
        JSON-ready.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    >>> a, b = input_sketch({"x": x}, [0, 1, 2]), input_sketch({"x": x + 1e-7}, [0, 1, 2])
    >>> compare_sketches(a, b), len(compare_sketches(a, input_sketch({"x": x[::-1]}, [0, 1, 2]))) > 0
    ([], True)
    """
    return {"arrays": {k: _sketch_array(v, n_projections) for k, v in sorted(inputs.items())},
            "labels": _exact(np.asarray(labels).astype(np.int64)),
            "groups": None if groups is None else _exact(np.asarray(groups).astype(str))}


def compare_sketches(a, b, tolerance=SKETCH_TOLERANCE, arrays=None):
    """How two sketches differ beyond rounding: one line per difference, empty when they agree.

    Parameters
    ----------
    a, b : dict
        :func:`input_sketch`'s results.
    tolerance : float, default :data:`SKETCH_TOLERANCE`
        A value agrees when it differs by at most ``tolerance`` times the
        array's root mean square.
    arrays : iterable of str, optional
        The arrays to compare (default: those of ``a``); an array missing from
        ``b`` is a difference.

    Returns
    -------
    list of str
    """
    out = []
    for key in ("labels", "groups"):
        if a.get(key) is not None and b.get(key) is not None and a[key] != b[key]:
            out.append(f"{key}: other values ({a[key]} against {b[key]})")
    for name in (list(a["arrays"]) if arrays is None else list(arrays)):
        if name not in a["arrays"] or name not in b["arrays"]:
            out.append(f"{name}: in one sketch only")
            continue
        x, y = a["arrays"][name], b["arrays"][name]
        if x["shape"] != y["shape"]:
            out.append(f"{name}: shape {tuple(x['shape'])} against {tuple(y['shape'])}")
            continue
        scale = tolerance * max(x["rms"], y["rms"], 1e-12)
        worst = {}
        for field in ("clip_mean", "clip_rms", "projections"):
            d = np.abs(np.asarray(x[field]) - np.asarray(y[field]))
            if d.size and d.max() > scale:
                worst[field] = (int(np.argmax(d)), float(d.max()), int(np.sum(d > scale)))
        if abs(x["rms"] - y["rms"]) > scale or worst:
            detail = "; ".join(f"{f}: {n} values beyond, the largest {v / max(x['rms'], 1e-12):.2g} of its rms "
                               f"({'clip' if f != 'projections' else 'projection'} {i})"
                               for f, (i, v, n) in worst.items())
            out.append(f"{name}: {detail or 'rms'} (tolerance {tolerance:g} of the rms)")
    return out


def preprocessing_versions():
    """What the pre-processing runs on: Python, NumPy, SciPy, OpenCV, scikit-image, the CPU and its SIMD dispatch.

    Returns
    -------
    dict
        ``python``, ``numpy``, ``scipy``, ``opencv`` (with its build:
        ``opencv_contrib``, whether ``cv2.optflow`` exists), ``scikit_image``,
        ``machine``, ``numpy_simd`` (the dispatch targets NumPy uses on this
        CPU), ``opencv_cpu`` (OpenCV's CPU feature line).
    """
    import scipy

    info = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "machine": platform.machine(), "processor": platform.processor() or None}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        info["numpy_simd"] = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    except ImportError:            # another NumPy layout: the version says enough
        info["numpy_simd"] = None
    try:
        import cv2

        info.update(opencv=cv2.__version__, opencv_contrib=hasattr(cv2, "optflow"),
                    opencv_cpu=cv2.getCPUFeaturesLine(), opencv_optimized=bool(cv2.useOptimized()))
    except ImportError:
        info["opencv"] = None
    try:
        import skimage

        info["scikit_image"] = skimage.__version__
    except ImportError:
        info["scikit_image"] = None
    return info


def check_folder_data(record, inputs, labels, groups=None, fingerprint=None):
    """Are a results folder's data the data loaded here? ``(status, sentence)``, the sentence one to print.

    Parameters
    ----------
    record : dict
        The folder's ``settings.json`` or ``provenance.json``: its exact
        ``data`` (or ``data_fingerprint``), and, for folders made since it was
        recorded, ``data_sketch`` and ``preprocessing_versions``.
    inputs : dict of str to ndarray
        The arrays loaded here under the folder's names (``frames``,
        ``flow_pbvm``...): all of them or some.
    labels, groups : array_like
    fingerprint : str, optional
        The exact fingerprint of all of the folder's inputs computed here
        (:func:`mer_lib.train.data_fingerprint`), when they were all loaded.

    Returns
    -------
    status : {"identical", "agrees", "differs", "other data", "unknown"}
        "identical": the exact fingerprints agree; "agrees": the sketches of
        the arrays loaded here agree within rounding; "differs": they do not;
        "other data": another number of clips or other labels; "unknown": the
        folder recorded no sketch and its exact fingerprint differs from this
        machine's, so whether the data are the same cannot be told here.
    sentence : str
    """
    exact = record.get("data") or record.get("data_fingerprint")
    n_here = len(labels)
    n_there = (record.get("dataset") or {}).get("n_clips")
    sketch = record.get("data_sketch")
    if n_there is None and sketch is not None and sketch.get("arrays"):
        n_there = next(iter(sketch["arrays"].values()))["shape"][0]
    if n_there is not None and n_there != n_here:
        return "other data", (f"the data loaded here ({n_here} clips) are not the folder's ({n_there} clips): "
                              "nothing to compare")
    if fingerprint is not None and exact is not None and fingerprint == exact:
        return "identical", f"the data loaded here are the folder's, bit for bit (fingerprint {exact})"
    if sketch is not None and inputs:
        here = input_sketch(inputs, labels, groups)
        if sketch.get("labels") != here["labels"]:
            return "other data", "the labels loaded here are not the folder's"
        diffs = compare_sketches(sketch, here, arrays=list(inputs))
        if diffs:
            return "differs", "the folder's inputs differ from those loaded here: " + "; ".join(diffs)
        versions = record.get("preprocessing_versions") or {}
        return "agrees", (f"the inputs loaded here ({', '.join(sorted(inputs))}) agree with the folder's within "
                          f"rounding (tolerance {SKETCH_TOLERANCE:g} of each array's rms; the folder's pre-processing "
                          f"ran on NumPy {versions.get('numpy')}, OpenCV {versions.get('opencv')}, "
                          f"SIMD {versions.get('numpy_simd')})")
    here = "" if fingerprint is None else f" (here: {fingerprint})"
    return "unknown", (f"the folder records only an exact fingerprint of its inputs ({exact}), made on "
                       f"{record.get('device') or 'another machine'} with NumPy {record.get('numpy_version')} and "
                       f"Python {record.get('python_version')}{here}; exact fingerprints of floating-point inputs "
                       "differ between CPUs (SIMD kernels round differently), and the folder recorded no sketch of "
                       "its inputs nor the versions of its pre-processing libraries: whether its data are the ones "
                       "loaded here cannot be told")
