"""Attribution maps against SynthME's ground truth: the region each clip really moved, the share
of a map's positive mass inside it, the share a map that ignores the clip gets, and per-class summaries."""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["true_displacement", "moving_region", "inside_share", "random_share", "share_summary"]


def true_displacement(data, size=64, apex=None):
    """SynthME's expression displacement from the onset to the apex, its magnitude at the network's size.

    The same ground truth as :func:`mer_lib.apex.true_motion` (which computes
    it; this name keeps chapter 14's vocabulary and its default size, the
    two-stream network's).

    Parameters
    ----------
    data : SynthME
        Carries ``expression_flow``, shape (N, T - 1, H, W, 2) (blinks and
        head motion excluded).
    size : int, default 64
    apex : array_like of int, shape (N,), optional
        Default: the true apex.

    Returns
    -------
    ndarray, shape (N, size, size), float32
        Pixels of displacement, at ``size`` (area-averaged like the frames).
    """
    from mer_lib.apex.inputs import true_motion

    return true_motion(data, apex=apex, size=size)


def moving_region(displacement, threshold=0.1):
    """Where the face really moved: displacement above a threshold.

    Parameters
    ----------
    displacement : ndarray, shape (N, H, W)
        From :func:`true_displacement`.
    threshold : float, default 0.1
        Pixels (at the displacement's size).

    Returns
    -------
    ndarray of bool, shape (N, H, W)
    """
    displacement = np.asarray(displacement)
    if displacement.ndim != 3:
        raise UserInputError(f"displacement: expected (N, H, W), got shape {displacement.shape}")
    if not threshold > 0:
        raise UserInputError(f"threshold: expected a positive number of pixels, got {threshold!r}")
    return displacement > threshold


def _check_maps(maps, mask):
    maps = np.asarray(maps, dtype=np.float64)
    mask = np.asarray(mask)
    if maps.ndim == 2:
        maps, mask = maps[None], mask[None] if mask.ndim == 2 else mask
    if maps.ndim != 3 or mask.shape != maps.shape or mask.dtype != bool:
        raise UserInputError(f"maps and mask: expected maps (N, H, W) and a boolean mask of the same shape, got "
                             f"{maps.shape} and {mask.dtype} {mask.shape}")
    return maps, mask


def inside_share(maps, mask):
    """The share of each map's positive mass that falls inside a region.

    ``sum over the region of max(a, 0) / sum over the image of max(a, 0)``:
    only what speaks for the class counts (an occlusion drop, a positive
    attribution); a map with no positive mass has no share (NaN).

    Parameters
    ----------
    maps : ndarray, shape (N, H, W) or (H, W)
    mask : ndarray of bool, the same shape

    Returns
    -------
    ndarray, shape (N,)
    """
    maps, mask = _check_maps(maps, mask)
    positive = np.maximum(maps, 0.0)
    total = positive.sum(axis=(1, 2))
    inside = (positive * mask).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def random_share(mask):
    """The expected :func:`inside_share` of a map that ignores the clip: the region's share of the image.

    For a map whose values are exchangeable (i.i.d. noise, for instance), every
    pixel has the same expected share of the total, 1 / (H W), so the expected
    share inside the region is its number of pixels over H W.

    Parameters
    ----------
    mask : ndarray of bool, shape (N, H, W)

    Returns
    -------
    ndarray, shape (N,)
    """
    mask = np.asarray(mask)
    if mask.ndim != 3 or mask.dtype != bool:
        raise UserInputError(f"mask: expected a boolean array (N, H, W), got {mask.dtype} {mask.shape}")
    return mask.mean(axis=(1, 2))


def share_summary(shares, labels, class_names, baseline=None, n_boot=2000, seed=0):
    """Inside-region shares per class, with 95% percentile-bootstrap intervals over the clips.

    Parameters
    ----------
    shares : array_like, shape (N,)
        One share per clip (:func:`inside_share`); clips without a share
        (NaN) are counted and left out.
    labels : array_like of int, shape (N,)
    class_names : sequence of str
    baseline : array_like, shape (N,), optional
        The same clips' baseline shares (:func:`random_share`): the paired
        difference ``share - baseline`` gets its own interval.
    n_boot : int
    seed : int

    Returns
    -------
    list of dict
        One per class, then "all": ``class``, ``clips``, ``no_share``,
        ``mean``, ``ci_low``, ``ci_high`` and, with a baseline,
        ``baseline_mean``, ``difference``, ``difference_ci_low``,
        ``difference_ci_high``.
    """
    from mer_lib import evaluate

    shares = np.asarray(shares, dtype=float)
    labels = np.asarray(labels)
    if shares.shape != labels.shape or shares.ndim != 1:
        raise UserInputError(f"shares and labels: expected the same (N,) shape, got {shares.shape} and {labels.shape}")
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=float)
        if baseline.shape != shares.shape:
            raise UserInputError(f"baseline: expected shape {shares.shape}, got {baseline.shape}")
    rows = []
    groups = [(name, labels == c) for c, name in enumerate(class_names)] + [("all", np.ones(len(labels), bool))]
    for name, sel in groups:
        ok = sel & np.isfinite(shares)
        row = {"class": name, "clips": int(ok.sum()), "no_share": int((sel & ~np.isfinite(shares)).sum())}
        row.update(_mean_interval(shares[ok], n_boot, seed, evaluate))
        if baseline is not None:
            row["baseline_mean"] = float(baseline[ok].mean()) if ok.any() else float("nan")
            d = _mean_interval(shares[ok] - baseline[ok], n_boot, seed, evaluate)
            row.update({"difference": d["mean"], "difference_ci_low": d["ci_low"],
                        "difference_ci_high": d["ci_high"]})
        rows.append(row)
    return rows


def _mean_interval(values, n_boot, seed, evaluate):
    if len(values) == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    s = evaluate.summarize(values, n_boot=n_boot, seed=seed)
    return {"mean": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
