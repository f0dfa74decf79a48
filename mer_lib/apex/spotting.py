"""Apex spotting: which frame of a clip shows the expression at its peak?

The spotter measures, for every frame t of a clip, how much the face has moved
since the onset, and calls the frame of largest motion the apex:

    m(t) = mean over the face of | r_t(x) |,    apex = argmax_{t >= 1} m(t),

where ``r_t`` is the optical flow from the onset to frame t after two
nuisances have been taken out, each by a small least-squares fit:

1. a change of brightness (illumination flicker, a camera's gain): frame t is
   given the gain and offset that best match it to the onset over the face,
   by least squares (:func:`match_brightness`), before the flow is computed;
2. the head's own motion: the affine motion that best explains the flow over
   the face is subtracted from it (:func:`remove_affine_motion`). A rigid
   head moves every pixel; an expression moves a few regions, which the
   affine fit cannot explain, so they stay in the residual.

Chapter ``book/13_apex_frame.md`` derives both fits and measures the
spotter against SynthME's true apex and a random frame;
:func:`spotting_report` measures it against the apex annotated in a licensed
database.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["match_brightness", "affine_motion", "remove_affine_motion", "farneback", "FLOWS", "motion_curve",
           "curve_from_flows", "spot_apex", "spot_apexes", "spot_from_flows", "expected_random_error",
           "random_frame_errors", "median_interval", "spotting_report", "summarize_spotting"]


def _face_mask(mask, shape):
    """The boolean mask of the pixels a fit or a statistic uses: "face", None (every pixel) or an array."""
    if mask is None:
        return np.ones(shape, bool)
    if isinstance(mask, str):
        if mask != "face":
            raise UserInputError(f"mask: expected 'face', None or a boolean array, got {mask!r}")
        if shape[0] != shape[1]:
            raise UserInputError(f"mask='face' needs square frames, got shape {shape}")
        from mer_lib.data.synthetic import face_ellipse

        return face_ellipse(shape[0])
    mask = np.asarray(mask)
    if mask.shape != tuple(shape) or mask.dtype != bool:
        raise UserInputError(f"mask: expected a boolean array of shape {tuple(shape)}, got {mask.dtype} {mask.shape}")
    if mask.sum() < 3:
        raise UserInputError(f"mask: at least 3 pixels are needed for the fits, got {int(mask.sum())}")
    return mask


def match_brightness(reference, image, mask=None):
    """The image with the gain and offset that best match it to a reference (least squares).

    Finds ``g, o`` minimising ``sum over the mask of (g * image + o - reference)^2``
    and returns ``g * image + o``. A global change of brightness (flicker, a
    camera's automatic gain) is not motion; an optical flow method that
    assumes constant brightness reads it as motion wherever the image has
    texture. The fit assumes the two images show the same thing: when the
    face has moved, their correlation drops below 1 and the fitted gain
    with it (by about 1% for a texture moved by half a pixel, 3% for 1.5
    pixels), which is why a micro-expression's small motion suits it.

    Parameters
    ----------
    reference, image : array_like, shape (H, W)
    mask : None, "face" or ndarray of bool, shape (H, W)
        The pixels of the fit (None: all).

    Returns
    -------
    ndarray, shape (H, W), float64

    Examples
    --------
    >>> ref = np.linspace(0, 1, 16).reshape(4, 4)
    >>> np.allclose(match_brightness(ref, 1.1 * ref + 0.02), ref)
    True
    """
    reference = np.asarray(reference, float)
    image = np.asarray(image, float)
    if reference.ndim != 2 or reference.shape != image.shape:
        raise UserInputError(f"reference and image: expected two grey images of one shape (H, W), got "
                             f"{reference.shape} and {image.shape}")
    m = _face_mask(mask, image.shape)
    a = image[m]
    design = np.stack([a, np.ones_like(a)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, reference[m], rcond=None)
    return gain * image + offset


def affine_motion(flow, mask=None):
    """The affine motion field that best explains a flow over a region (least squares).

    Fits ``flow(x, y) ~ (a0 + a1 x + a2 y, b0 + b1 x + b2 y)``: a translation,
    a rotation, a scaling and a shear, which is how a rigid head moves the
    image of a face to first order.

    Parameters
    ----------
    flow : array_like, shape (H, W, 2)
        ``flow[..., 0]`` horizontal, ``flow[..., 1]`` vertical, in pixels.
    mask : None, "face" or ndarray of bool, shape (H, W)
        The pixels of the fit (None: all).

    Returns
    -------
    ndarray, shape (H, W, 2)
        The fitted affine field, everywhere (not only inside the mask).
    """
    flow = np.asarray(flow, float)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise UserInputError(f"flow: expected shape (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    m = _face_mask(mask, (h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    design = np.stack([np.ones(h * w), xx.ravel(), yy.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design[m.ravel()], flow[m], rcond=None)     # (3, 2): one column per component
    return (design @ coef).reshape(h, w, 2)


def remove_affine_motion(flow, mask=None):
    """The flow minus its best affine fit over the mask: the motion an affine (head) motion cannot explain.

    Parameters
    ----------
    flow : array_like, shape (H, W, 2)
    mask : None, "face" or ndarray of bool, shape (H, W)

    Returns
    -------
    ndarray, shape (H, W, 2)

    Examples
    --------
    A pure rotation leaves nothing:

    >>> yy, xx = np.mgrid[0:8, 0:8]
    >>> rotation = np.stack([-0.01 * yy, 0.01 * xx], axis=-1)
    >>> float(np.abs(remove_affine_motion(rotation)).max()) < 1e-12
    True
    """
    flow = np.asarray(flow, float)
    return flow - affine_motion(flow, mask)


def farneback(frame0, frame1):
    """OpenCV's Farnebäck optical flow (Farnebäck 2003), in the library's convention.

    A polynomial-expansion method, much faster than TV-L1 (chapter 13
    measures it): the spotter needs one flow per frame of every clip.
    Settings (ours): pyramid scale 0.5, 3 levels, a 9-pixel window, 3
    iterations, polynomial neighbourhood 5 with sigma 1.1.

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W)

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        ``frame1(x + flow(x)) ~ frame0(x)``.
    """
    import cv2

    from mer_lib.flow.common import as_grey_pair, normalize_pair

    a, b = normalize_pair(*as_grey_pair(frame0, frame1), 0.0, 255.0, np.float32)
    return np.asarray(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0), np.float32)


def _tvl1(frame0, frame1):
    from mer_lib.flow import tvl1

    return tvl1(frame0, frame1)


#: Flow methods the spotter accepts by name (or pass any callable ``flow(frame0, frame1) -> (H, W, 2)``).
FLOWS = {"tvl1": _tvl1, "farneback": farneback}


def _flow_function(flow):
    if callable(flow):
        return flow
    if flow not in FLOWS:
        raise UserInputError(f"flow: expected one of {', '.join(FLOWS)} or a callable, got {flow!r}")
    return FLOWS[flow]


def _resized(frames, size):
    import cv2

    if size is None or frames.shape[1:] == (size, size):
        return frames
    return np.stack([cv2.resize(np.ascontiguousarray(f, np.float32), (size, size), interpolation=cv2.INTER_AREA)
                     for f in frames]).astype(float)


def _check_clip(clip):
    clip = np.asarray(clip, float)
    if clip.ndim != 3 or clip.shape[0] < 2:
        raise UserInputError(f"clip: expected frames of shape (T, H, W) with T >= 2, got {clip.shape}")
    if not np.all(np.isfinite(clip)):
        raise UserInputError("clip: contains NaN or infinite values")
    return clip


def motion_curve(clip, *, flow="farneback", size=64, mask="face", brightness=True, head=True, return_flows=False):
    """How far the face has moved from the onset, frame by frame.

    Parameters
    ----------
    clip : array_like, shape (T, H, W)
        Grey frames, the onset first.
    flow : {"farneback", "tvl1"} or callable
        The optical flow method, ``flow(frame0, frame1) -> (H, W, 2)``.
        Farnebäck by default: much cheaper than TV-L1, and not thrown off by
        the small brightness mismatch that :func:`match_brightness` leaves
        when the face has moved (TV-L1's L1 data term reads a 0.5% change of
        gain as motion of about a tenth of a pixel: ``tests/test_apex.py``;
        chapter 13 compares both flows).
    size : int or None, default 64
        Frames are resized (area averaging) to ``size`` x ``size`` first;
        None keeps them (they must then be square for ``mask="face"``).
    mask : "face", None or ndarray of bool, shape (size, size)
        Where the fits and the statistic look: "face" is the face ellipse of
        the library's canonical crop (:func:`mer_lib.data.synthetic.face_ellipse`),
        None every pixel.
    brightness : bool, default True
        Match each frame's gain and offset to the onset first (:func:`match_brightness`).
    head : bool, default True
        Subtract the best affine motion over the mask (:func:`remove_affine_motion`).
    return_flows : bool
        Also return the flows from the onset to every frame (before the
        affine motion is removed).

    Returns
    -------
    curve : ndarray, shape (T,)
        ``curve[t]`` the mean magnitude (pixels at ``size``) of the remaining
        flow over the mask; ``curve[0] = 0``.
    flows : ndarray, shape (T - 1, size, size, 2), only with ``return_flows``
        ``flows[t - 1]`` from the onset to frame t.
    """
    frames = _resized(_check_clip(clip), size)
    estimate = _flow_function(flow)
    m = _face_mask(mask, frames.shape[1:])
    flows = []
    for t in range(1, len(frames)):
        target = match_brightness(frames[0], frames[t], m) if brightness else frames[t]
        flows.append(np.asarray(estimate(frames[0], target), float))
    curve = curve_from_flows(np.stack(flows), mask=m, head=head)
    if return_flows:
        return curve, np.stack(flows).astype(np.float32)
    return curve


def curve_from_flows(flows, *, mask="face", head=True):
    """The motion curve of :func:`motion_curve` from flows already computed.

    The head's affine motion is removed after the flow, so one set of flows
    gives the curve with and without that fit (the brightness match comes
    before the flow: it needs flows of its own).

    Parameters
    ----------
    flows : array_like, shape (T - 1, H, W, 2)
        ``flows[t - 1]`` from the onset to frame t (``motion_curve(...,
        return_flows=True)``).
    mask : "face", None or ndarray of bool, shape (H, W)
    head : bool, default True
        Subtract the best affine motion over the mask first.

    Returns
    -------
    ndarray, shape (T,)
        ``curve[0] = 0``.
    """
    flows = np.asarray(flows, float)
    if flows.ndim != 4 or flows.shape[-1] != 2:
        raise UserInputError(f"flows: expected shape (T - 1, H, W, 2), got {flows.shape}")
    m = _face_mask(mask, flows.shape[1:3])
    curve = np.zeros(len(flows) + 1)
    for t, f in enumerate(flows, start=1):
        r = remove_affine_motion(f, m) if head else f
        curve[t] = np.hypot(r[..., 0], r[..., 1])[m].mean()
    return curve


def spot_apex(clip, **kwargs):
    """The apex of a clip: the frame after the onset whose motion from the onset is largest.

    Parameters
    ----------
    clip : array_like, shape (T, H, W)
    **kwargs
        Passed to :func:`motion_curve` (``flow``, ``size``, ``mask``,
        ``brightness``, ``head``).

    Returns
    -------
    int
        The index of the apex frame, 1 to T - 1.

    Examples
    --------
    A square that moves right by 0, 1, 2, then 1 pixel (no head, no flicker):

    >>> clip = np.zeros((4, 32, 32))
    >>> for t, dx in enumerate([0, 1, 2, 1]):
    ...     clip[t, 12:20, 12 + dx:20 + dx] = 1.0
    >>> spot_apex(clip, size=None, mask=None, head=False, brightness=False, flow="farneback")
    2
    """
    return int(np.argmax(motion_curve(clip, **kwargs)[1:])) + 1


def spot_apexes(clips, *, progress=True, return_flows=False, **kwargs):
    """Spot the apex of every clip.

    Parameters
    ----------
    clips : array_like, shape (N, T, H, W), or a SynthME dataset (its ``frames``)
    progress : bool
        Show a progress bar.
    return_flows : bool
        Also return every clip's flows from the onset (before the affine fit),
        for :func:`spot_from_flows`.
    **kwargs
        Passed to :func:`motion_curve`.

    Returns
    -------
    apex : ndarray of int, shape (N,)
    curves : ndarray, shape (N, T)
    flows : ndarray, shape (N, T - 1, size, size, 2), float32, only with ``return_flows``
    """
    frames = np.asarray(getattr(clips, "frames", clips))
    if frames.ndim != 4:
        raise UserInputError(f"clips: expected shape (N, T, H, W), got {frames.shape}")
    iterator = range(len(frames))
    if progress:
        from mer_lib.env import progress_bar

        iterator = progress_bar(iterator, desc="spotting")
    out = [motion_curve(frames[i], return_flows=return_flows, **kwargs) for i in iterator]
    curves = np.stack([o[0] for o in out] if return_flows else out)
    apex = np.argmax(curves[:, 1:], axis=1) + 1
    return (apex, curves, np.stack([o[1] for o in out])) if return_flows else (apex, curves)


def spot_from_flows(flows, *, mask="face", head=True):
    """Spot the apex of every clip from flows already computed (:func:`spot_apexes` with ``return_flows``).

    Parameters
    ----------
    flows : array_like, shape (N, T - 1, H, W, 2)
    mask : "face", None or ndarray of bool, shape (H, W)
    head : bool, default True
        Remove the head's affine motion first (:func:`curve_from_flows`).

    Returns
    -------
    apex : ndarray of int, shape (N,)
    curves : ndarray, shape (N, T)

    Examples
    --------
    >>> flows = np.zeros((1, 3, 8, 8, 2)); flows[0, 1, 2:4, 2:4, 0] = 1.0     # a local bump at frame 2
    >>> spot_from_flows(flows, mask=None)[0].tolist()
    [2]
    """
    flows = np.asarray(flows)
    if flows.ndim != 5 or flows.shape[-1] != 2:
        raise UserInputError(f"flows: expected shape (N, T - 1, H, W, 2), got {flows.shape}")
    curves = np.stack([curve_from_flows(f, mask=mask, head=head) for f in flows])
    return np.argmax(curves[:, 1:], axis=1) + 1, curves


def _check_apex(apex, n_frames):
    apex = np.asarray(apex)
    if apex.ndim != 1 or not np.issubdtype(apex.dtype, np.integer):
        raise UserInputError(f"apex: expected a 1-D array of frame indices, got {apex.dtype} {apex.shape}")
    if int(n_frames) != n_frames or n_frames < 2:
        raise UserInputError(f"n_frames: expected an integer >= 2, got {n_frames!r}")
    if apex.size and (apex.min() < 1 or apex.max() > n_frames - 1):
        raise UserInputError(f"apex: expected indices in 1 .. {n_frames - 1} (a frame after the onset), got "
                             f"{apex.min()} .. {apex.max()}")
    return apex


def expected_random_error(apex, n_frames):
    """The mean apex error of a frame drawn uniformly from 1 .. T - 1, exactly, per clip.

    Parameters
    ----------
    apex : array_like of int, shape (N,)
        True apex indices, in 1 .. T - 1.
    n_frames : int
        T, the frames per clip.

    Returns
    -------
    ndarray, shape (N,)
        ``mean over u of |u - apex|``.

    Examples
    --------
    >>> expected_random_error(np.array([1, 4]), 8).tolist()     # frames 1..7
    [3.0, 1.7142857142857142]
    """
    apex = _check_apex(apex, n_frames)
    frames = np.arange(1, int(n_frames))
    return np.abs(frames[None, :] - apex[:, None]).mean(axis=1)


def random_frame_errors(apex, n_frames, n_draws=1000, seed=0):
    """Apex errors of a spotter that picks a frame at random, ``n_draws`` times over.

    Parameters
    ----------
    apex : array_like of int, shape (N,)
    n_frames : int
    n_draws : int
    seed : int

    Returns
    -------
    ndarray of int, shape (n_draws, N)
        ``|u - apex|`` with ``u`` uniform on 1 .. T - 1, drawn anew for every clip and draw.
    """
    apex = _check_apex(apex, n_frames)
    if int(n_draws) != n_draws or n_draws < 1:
        raise UserInputError(f"n_draws: expected a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(seed)
    return np.abs(rng.integers(1, int(n_frames), size=(int(n_draws), len(apex))) - apex[None, :])


def median_interval(values, confidence=0.95, n_boot=10_000, seed=0):
    """The median of per-clip values with a percentile-bootstrap interval over the clips.

    Parameters
    ----------
    values : array_like, shape (N,)
    confidence : float
    n_boot : int
    seed : int

    Returns
    -------
    dict
        ``median``, ``ci_low``, ``ci_high``, ``mean``, ``n``.
    """
    values = np.asarray(values, float)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise UserInputError(f"values: expected a non-empty 1-D array of finite numbers, got shape {values.shape}")
    if not 0 < confidence < 1:
        raise UserInputError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    rng = np.random.default_rng(seed)
    medians = np.median(values[rng.integers(0, len(values), size=(int(n_boot), len(values)))], axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return {"median": float(np.median(values)), "ci_low": float(low), "ci_high": float(high),
            "mean": float(values.mean()), "n": int(len(values))}


def summarize_spotting(errors, confidence=0.95, n_boot=10_000, seed=0):
    """Median, mean and exact hits of apex errors in frames, with a bootstrap interval of the median.

    Parameters
    ----------
    errors : array_like, shape (N,)
        Absolute apex errors, in frames.
    confidence, n_boot, seed
        Of the bootstrap over clips (:func:`median_interval`).

    Returns
    -------
    dict
        ``median``, ``ci_low``, ``ci_high``, ``mean``, ``n`` and ``exact``
        (the share of clips spotted on the very frame).
    """
    out = median_interval(errors, confidence, n_boot, seed)
    out["exact"] = float(np.mean(np.asarray(errors, float) == 0))
    return out


#: Notes of a loader that mean the apex was not annotated but repaired (:mod:`mer_lib.data.loaders`).
_NOT_ANNOTATED = ("midpoint", "no apex annotated")


def spotting_report(records, *, flow="farneback", size=64, mask="face", step=1, face="detect", progress=True):
    """Spot the apex of each clip of a licensed database and compare it with the annotated apex.

    Each clip's frames from onset to offset are read and cropped to the face
    (:func:`mer_lib.data.prepare_clip`, every frame kept), the motion curve
    is computed against the onset, and the spotted frame number is compared
    with the annotation. Clips whose apex the loader had to repair (missing,
    0 or outside the clip: the midpoint; SMIC, which annotates none: the
    middle frame) are kept in the table with the reason and left out of the
    error, never scored against a guess.

    Parameters
    ----------
    records : list of ClipRecord
        From a loader of :mod:`mer_lib.data` (``load_casme2``, ``load_casme_ii``, ...).
    flow, size, mask
        As in :func:`motion_curve`.
    step : int, default 1
        Compare every ``step``-th frame only (long clips at 200 fps); the
        error stays in frames of the database.
    face : {"detect", "none"}
        The face crop (:func:`mer_lib.data.prepare_clip`).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``clip_id``, ``subject``, ``label``, ``onset``,
        ``apex`` (annotated), ``offset``, ``spotted`` (frame number),
        ``error`` (frames; NaN when left out), ``relative_error`` (error /
        (offset - onset)), ``scored`` (bool) and ``note``.
        :func:`summarize_spotting` on ``error[scored]`` gives the figures.

    Raises
    ------
    UserInputError
        An empty list, an object that is not a ClipRecord, or a record whose
        paths are not its frames from onset to offset.
    """
    import pandas as pd

    from mer_lib.data.prepare import prepare_clip

    records = list(records)
    if not records:
        raise UserInputError("records: the list is empty; load a database first (e.g. load_casme_ii(root))")
    for k, r in enumerate(records):
        if not all(hasattr(r, a) for a in ("frame_paths", "onset", "apex", "offset", "notes")):
            raise UserInputError(f"records[{k}]: expected a ClipRecord of mer_lib.data.loaders, got {type(r).__name__}")
        if len(r.frame_paths) != r.offset - r.onset + 1:
            raise UserInputError(f"records[{k}] ({r.clip_id}): expected the {r.offset - r.onset + 1} frames from onset "
                                 f"{r.onset} to offset {r.offset}, got {len(r.frame_paths)} paths")
    if int(step) != step or step < 1:
        raise UserInputError(f"step: expected a positive integer, got {step!r}")
    iterator = records
    if progress:
        from mer_lib.env import progress_bar

        iterator = progress_bar(records, desc="spotting")
    rows = []
    for r in iterator:
        keep = list(range(0, len(r.frame_paths), int(step)))
        row = {"clip_id": r.clip_id, "subject": r.subject, "label": r.label, "onset": r.onset, "apex": r.apex,
               "offset": r.offset, "spotted": np.nan, "error": np.nan, "relative_error": np.nan, "scored": False,
               "note": ""}
        repaired = [n for n in r.notes if any(tag in n for tag in _NOT_ANNOTATED)]
        if len(r.frame_paths) < 2:
            row["note"] = "fewer than 2 frames"
        else:
            paths = [r.frame_paths[i] for i in keep]
            clip, _ = prepare_clip(paths, n_frames=len(paths), size=size, face=face)
            curve = motion_curve(clip, flow=flow, size=None, mask=mask)
            spotted = r.onset + keep[int(np.argmax(curve[1:])) + 1]     # a loader's frames run onset .. offset
            row["spotted"] = spotted
            if repaired:
                row["note"] = f"apex not annotated ({repaired[0]}): not scored"
            else:
                row["error"] = abs(spotted - r.apex)
                row["relative_error"] = row["error"] / max(r.offset - r.onset, 1)
                row["scored"] = True
        rows.append(row)
    return pd.DataFrame(rows)
