"""Error measures of a flow field against the ground truth: end-point and angular errors.

Convention as in :mod:`mer_lib.flow.common`: a flow field has shape (H, W, 2),
``flow[..., 0]`` horizontal and ``flow[..., 1]`` vertical, in pixels.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["endpoint_error", "endpoint_error_map", "angular_error"]


def _check_flows(flow, gt, mask):
    flow, gt = np.asarray(flow, np.float64), np.asarray(gt, np.float64)
    if flow.shape != gt.shape or flow.ndim != 3 or flow.shape[2] != 2:
        raise UserInputError(f"flow and gt must both have shape (H, W, 2), got {flow.shape} and {gt.shape}")
    valid = np.all(np.isfinite(gt), axis=-1) & np.all(np.isfinite(flow), axis=-1)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != flow.shape[:2]:
            raise UserInputError(f"mask must have shape {flow.shape[:2]}, got {mask.shape}")
        valid &= mask
    if not valid.any():
        raise UserInputError("no valid pixel to compare (mask empty or ground truth not finite)")
    return flow, gt, valid


def endpoint_error_map(flow, gt):
    """Per-pixel end-point error ``|flow - gt|`` (Euclidean), shape (H, W)."""
    flow, gt = np.asarray(flow, np.float64), np.asarray(gt, np.float64)
    return np.hypot(flow[..., 0] - gt[..., 0], flow[..., 1] - gt[..., 1])


def endpoint_error(flow, gt, mask=None, statistic="mean"):
    """End-point error: the mean (or median) of ``|flow - gt|`` over valid pixels.

    Parameters
    ----------
    flow, gt : array_like, shape (H, W, 2)
    mask : array_like of bool, shape (H, W), optional
        True where the pixel counts. Pixels where ``gt`` or ``flow`` is not
        finite never count (the motorcycle pair's infinite disparities).
    statistic : {"mean", "median"}

    Returns
    -------
    float

    Raises
    ------
    UserInputError
        Shapes that differ or are not (H, W, 2), no valid pixel, or an
        unknown ``statistic``.

    Examples
    --------
    >>> gt = np.zeros((4, 4, 2))
    >>> endpoint_error(np.full((4, 4, 2), [3.0, 4.0]), gt)
    5.0
    """
    if statistic not in ("mean", "median"):
        raise UserInputError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    flow, gt, valid = _check_flows(flow, gt, mask)
    err = endpoint_error_map(flow, gt)[valid]
    return float(np.median(err) if statistic == "median" else err.mean())


def angular_error(flow, gt, mask=None):
    """Mean angular error in degrees (Barron et al. 1994): the angle between (u, v, 1) and (u_gt, v_gt, 1).

    Parameters
    ----------
    flow, gt : array_like, shape (H, W, 2)
    mask : array_like of bool, shape (H, W), optional

    Returns
    -------
    float
    """
    flow, gt, valid = _check_flows(flow, gt, mask)
    u, v = flow[..., 0][valid], flow[..., 1][valid]
    ug, vg = gt[..., 0][valid], gt[..., 1][valid]
    cos = (u * ug + v * vg + 1.0) / np.sqrt((u * u + v * v + 1.0) * (ug * ug + vg * vg + 1.0))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())
