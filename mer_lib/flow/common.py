"""Building blocks of optical flow: input checks, derivatives, warping, pyramids, errors.

Convention, everywhere in the library: a flow field has shape (H, W, 2);
``flow[..., 0]`` is the horizontal displacement (along columns, x) and
``flow[..., 1]`` the vertical one (along rows, y), in pixels, with
``frame1(x + flow(x)) ~ frame0(x)``, as OpenCV's ``calc(prev, next)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["as_grey_pair", "normalize_pair", "gradient_centered", "gradient_forward", "divergence_backward",
           "warp", "warp_bilinear", "warp_bicubic", "zoom_size", "zoom_out", "zoom_in", "n_levels_for",
           "gaussian_pyramid", "pair_pyramids", "endpoint_error", "endpoint_error_map", "angular_error"]

_LUMA = np.array([0.299, 0.587, 0.114])


def _to_grey(image, name):
    arr = np.asarray(image)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3].astype(np.float64) @ _LUMA
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be a grey image (H, W) or a colour image (H, W, 3), got shape {arr.shape}")
    return arr


def as_grey_pair(frame0, frame1, min_size=4):
    """Check a pair of frames and return them as float64 grey images.

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W) or (H, W, 3)
        Any real numeric dtype and range. Colour frames (both) are turned
        into luma; a colour frame against a grey one is an error.
    min_size : int
        The smallest side accepted.

    Returns
    -------
    tuple of ndarray, shape (H, W), float64

    Raises
    ------
    ValueError
        Different shapes, colour against grey, NaN or infinite values, or an
        image smaller than ``min_size``.
    """
    a, b = np.asarray(frame0), np.asarray(frame1)
    if (a.ndim == 3) != (b.ndim == 3):
        raise ValueError(f"frame0 and frame1 must both be grey or both be colour, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"frame0 and frame1 must have the same shape, got {a.shape} and {b.shape}")
    a, b = _to_grey(a, "frame0"), _to_grey(b, "frame1")
    for name, arr in (("frame0", a), ("frame1", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    if min(a.shape) < min_size:
        raise ValueError(f"frames of shape {a.shape} are too small: at least {min_size} x {min_size} pixels needed")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def normalize_pair(frame0, frame1, low=0.0, high=255.0, dtype=np.float32):
    """Min-max normalise two frames *together* to [low, high] (the IPOL pre-processing).

    Parameters
    ----------
    frame0, frame1 : ndarray, shape (H, W)
    low, high : float
    dtype : dtype

    Returns
    -------
    tuple of ndarray, shape (H, W)
        Constant frames map to ``low``.
    """
    lo = min(frame0.min(), frame1.min())
    hi = max(frame0.max(), frame1.max())
    scale = (high - low) / (hi - lo) if hi > lo else 0.0
    return ((frame0 - lo) * scale + low).astype(dtype), ((frame1 - lo) * scale + low).astype(dtype)


def gradient_centered(image):
    """Centred differences (one-sided at the border).

    Parameters
    ----------
    image : ndarray, shape (H, W)

    Returns
    -------
    gx, gy : ndarray, shape (H, W)
        Derivatives along x (columns) and y (rows).
    """
    gx = np.empty_like(image)
    gy = np.empty_like(image)
    gx[:, 1:-1] = 0.5 * (image[:, 2:] - image[:, :-2])
    gx[:, 0] = image[:, 1] - image[:, 0]
    gx[:, -1] = image[:, -1] - image[:, -2]
    gy[1:-1] = 0.5 * (image[2:] - image[:-2])
    gy[0] = image[1] - image[0]
    gy[-1] = image[-1] - image[-2]
    return gx, gy


def gradient_forward(u, out_x=None, out_y=None):
    """Forward differences, zero on the last column / row (the TV discretisation).

    Parameters
    ----------
    u : ndarray, shape (H, W)
    out_x, out_y : ndarray, optional
        Buffers to write into.

    Returns
    -------
    ux, uy : ndarray, shape (H, W)
    """
    ux = np.empty_like(u) if out_x is None else out_x
    uy = np.empty_like(u) if out_y is None else out_y
    np.subtract(u[:, 1:], u[:, :-1], out=ux[:, :-1])
    ux[:, -1] = 0
    np.subtract(u[1:], u[:-1], out=uy[:-1])
    uy[-1] = 0
    return ux, uy


def divergence_backward(px, py, out=None):
    """Backward-difference divergence, the negative adjoint of :func:`gradient_forward`.

    Parameters
    ----------
    px, py : ndarray, shape (H, W)
    out : ndarray, optional

    Returns
    -------
    ndarray, shape (H, W)
    """
    div = np.empty_like(px) if out is None else out
    div[:, 0] = px[:, 0]
    np.subtract(px[:, 1:-1], px[:, :-2], out=div[:, 1:-1])
    div[:, -1] = -px[:, -2]
    div[0] += py[0]
    div[1:-1] += py[1:-1] - py[:-2]
    div[-1] -= py[-2]
    return div


def _clamped(coord, n):
    return np.clip(coord, 0, n - 1)


def warp_bilinear(image, x, y):
    """Sample ``image`` at real positions by bilinear interpolation (border replicated).

    Parameters
    ----------
    image : ndarray, shape (H, W)
    x, y : ndarray, shape (H', W')
        Column and row positions.

    Returns
    -------
    ndarray, shape (H', W')
    """
    h, w = image.shape
    x = _clamped(x, w)
    y = _clamped(y, h)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2) if w > 1 else np.zeros(x.shape, np.intp)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2) if h > 1 else np.zeros(y.shape, np.intp)
    fx = (x - x0).astype(image.dtype)
    fy = (y - y0).astype(image.dtype)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _keys(t, a=-0.5):
    """Keys' cubic convolution kernel weights for the 4 taps around a fractional offset t in [0, 1)."""
    t2, t3 = t * t, t * t * t
    w0 = a * (t3 - 2 * t2 + t)
    w1 = (a + 2) * t3 - (a + 3) * t2 + 1
    w2 = -(a + 2) * t3 + (2 * a + 3) * t2 - a * t
    w3 = a * (t2 - t3)
    return w0, w1, w2, w3


def warp_bicubic(image, x, y):
    """Sample ``image`` at real positions by bicubic (Keys, a = -0.5) interpolation, border replicated.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        With channels, all are sampled at the same positions at the cost of one.
    x, y : ndarray, shape (H', W')
        Column and row positions.

    Returns
    -------
    ndarray, shape (H', W') or (H', W', C)
    """
    h, w = image.shape[:2]
    x = _clamped(x, w)
    y = _clamped(y, h)
    xf, yf = np.floor(x), np.floor(y)
    wx = _keys((x - xf).astype(image.dtype))
    wy = _keys((y - yf).astype(image.dtype))
    if image.ndim == 3:
        wx = [c[..., None] for c in wx]
        wy = [c[..., None] for c in wy]
    xi = xf.astype(np.intp)
    yi = yf.astype(np.intp)
    cols = [np.clip(xi + k, 0, w - 1) for k in (-1, 0, 1, 2)]
    out = None
    for j, dy in enumerate((-1, 0, 1, 2)):
        rows = np.clip(yi + dy, 0, h - 1)
        line = image[rows, cols[0]] * wx[0]
        for k in (1, 2, 3):
            line += image[rows, cols[k]] * wx[k]
        line *= wy[j]
        if out is None:
            out = line
        else:
            out += line
    return out


def warp(image, flow, method="bicubic"):
    """Warp ``image`` by a flow: ``out(x) = image(x + flow(x))``.

    With the library's convention, ``warp(frame1, flow)`` brings frame1 back
    onto frame0.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    flow : ndarray, shape (H, W, 2)
    method : {"bicubic", "bilinear"}

    Returns
    -------
    ndarray, shape (H, W)
    """
    flow = np.asarray(flow)
    if flow.shape != image.shape + (2,):
        raise ValueError(f"flow must have shape {image.shape + (2,)} for an image of shape {image.shape}, "
                         f"got {flow.shape}")
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w]
    x = xx + flow[..., 0]
    y = yy + flow[..., 1]
    if method == "bicubic":
        return warp_bicubic(image, x, y)
    if method == "bilinear":
        return warp_bilinear(image, x, y)
    raise ValueError(f"method must be 'bicubic' or 'bilinear', got {method!r}")


def zoom_size(shape, factor):
    """Size of a pyramid level: ``int(n * factor + 0.5)`` per axis (IPOL's rule)."""
    return tuple(max(int(n * factor + 0.5), 1) for n in shape)


def zoom_out(image, factor=0.5):
    """Downsample by ``factor`` < 1: Gaussian anti-aliasing, then bicubic sampling (IPOL's zoom_out).

    Parameters
    ----------
    image : ndarray, shape (H, W)
    factor : float in (0, 1)

    Returns
    -------
    ndarray, shape zoom_size((H, W), factor)
    """
    sigma = 0.6 * np.sqrt(1.0 / factor ** 2 - 1.0)
    smooth = ndimage.gaussian_filter(image, sigma, mode="nearest")
    h2, w2 = zoom_size(image.shape, factor)
    y, x = np.mgrid[0:h2, 0:w2].astype(image.dtype)
    return warp_bicubic(smooth, x / factor, y / factor)


def zoom_in(field, shape):
    """Upsample a (H, W) or (H, W, C) array to ``shape`` by bicubic interpolation (IPOL's zoom_in).

    Parameters
    ----------
    field : ndarray, shape (h, w) or (h, w, C)
    shape : tuple of 2 ints

    Returns
    -------
    ndarray, shape (*shape,) or (*shape, C)
    """
    h, w = field.shape[:2]
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(field.dtype)
    x *= w / shape[1]
    y *= h / shape[0]
    if field.ndim == 2:
        return warp_bicubic(field, x, y)
    return np.stack([warp_bicubic(field[..., c], x, y) for c in range(field.shape[2])], axis=-1)


def n_levels_for(shape, factor=0.5, coarsest=16):
    """Pyramid levels so that the coarsest is about ``coarsest`` pixels: ``1 + log(hypot / coarsest) / log(1/factor)``."""
    diag = float(np.hypot(*shape))
    return max(1 + int(np.log(diag / coarsest) / np.log(1.0 / factor)), 1)


def gaussian_pyramid(image, n_levels, factor=0.5):
    """A Gaussian pyramid, finest level first.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    n_levels : int
    factor : float in (0, 1)

    Returns
    -------
    list of ndarray
        ``n_levels`` images, each ``factor`` times the size of the previous.
    """
    levels = [image]
    for _ in range(n_levels - 1):
        levels.append(zoom_out(levels[-1], factor))
    return levels


def pair_pyramids(i0, i1, zoom=0.5, n_levels=None, presmooth=0.8):
    """Validated coarse-to-fine pyramids of a normalised pair (shared by Horn-Schunck and TV-L1).

    Parameters
    ----------
    i0, i1 : ndarray, shape (H, W)
        The normalised pair.
    zoom : float in (0, 1)
    n_levels : int, optional
        By default, so that the coarsest level is about 16 pixels.
    presmooth : float
        Gaussian pre-smoothing (0: none).

    Returns
    -------
    pyr0, pyr1 : list of ndarray
        Finest level first.

    Raises
    ------
    ValueError
        A zoom outside (0, 1), or an image smaller than the coarsest level needs.
    """
    if not 0 < zoom < 1:
        raise ValueError(f"zoom must be in (0, 1), got {zoom!r}")
    auto = n_levels_for(i0.shape, zoom)
    levels = auto if n_levels is None else int(n_levels)
    coarsest = i0.shape
    for _ in range(levels - 1):
        coarsest = zoom_size(coarsest, zoom)
    if levels < 1 or min(coarsest) < 4:
        raise ValueError(f"an image of {i0.shape[0]} x {i0.shape[1]} pixels is smaller than the coarsest pyramid "
                         f"level needs: {levels} levels at zoom {zoom} leave {coarsest[0]} x {coarsest[1]} pixels "
                         f"(at least 4 x 4); use fewer levels (at most {auto} here)")
    if presmooth > 0:
        i0 = ndimage.gaussian_filter(i0, presmooth, mode="nearest")
        i1 = ndimage.gaussian_filter(i1, presmooth, mode="nearest")
    pyr0, pyr1 = [i0], [i1]
    for _ in range(levels - 1):
        pyr0.append(zoom_out(pyr0[-1], zoom))
        pyr1.append(zoom_out(pyr1[-1], zoom))
    return pyr0, pyr1


def _check_flows(flow, gt, mask):
    flow, gt = np.asarray(flow, np.float64), np.asarray(gt, np.float64)
    if flow.shape != gt.shape or flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow and gt must both have shape (H, W, 2), got {flow.shape} and {gt.shape}")
    valid = np.all(np.isfinite(gt), axis=-1) & np.all(np.isfinite(flow), axis=-1)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != flow.shape[:2]:
            raise ValueError(f"mask must have shape {flow.shape[:2]}, got {mask.shape}")
        valid &= mask
    if not valid.any():
        raise ValueError("no valid pixel to compare (mask empty or ground truth not finite)")
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
    """
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
