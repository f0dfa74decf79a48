"""Building blocks of optical flow: input checks, derivatives, warping, pyramids, errors.

Convention, everywhere in the library: a flow field has shape (H, W, 2);
``flow[..., 0]`` is the horizontal displacement (along columns, x) and
``flow[..., 1]`` the vertical one (along rows, y), in pixels, with
``frame1(x + flow(x)) ~ frame0(x)``, as OpenCV's ``calc(prev, next)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mer_lib.errors import UserInputError
from mer_lib.flow.metrics import angular_error, endpoint_error, endpoint_error_map

__all__ = ["as_grey_pair", "normalize_pair", "gradient_centered", "gradient_forward", "divergence_backward",
           "warp", "warp_bilinear", "warp_bicubic", "zoom_size", "zoom_out", "zoom_in", "n_levels_for",
           "zoom_pyramid", "pair_pyramids", "check_initial_flow", "check_positive_int", "coarse_to_fine",
           "endpoint_error", "endpoint_error_map", "angular_error"]

_LUMA = np.array([0.299, 0.587, 0.114])


def _to_grey(image, name):
    arr = np.asarray(image)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3].astype(np.float64) @ _LUMA
    elif arr.ndim != 2:
        raise UserInputError(f"{name} must be a grey image (H, W) or a colour image (H, W, 3), got shape {arr.shape}")
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
    UserInputError
        Different shapes, colour against grey, NaN or infinite values, or an
        image smaller than ``min_size``.
    """
    a, b = np.asarray(frame0), np.asarray(frame1)
    if (a.ndim == 3) != (b.ndim == 3):
        raise UserInputError(f"frame0 and frame1 must both be grey or both be colour, got shapes {a.shape} and "
                             f"{b.shape}")
    if a.shape != b.shape:
        raise UserInputError(f"frame0 and frame1 must have the same shape, got {a.shape} and {b.shape}")
    a, b = _to_grey(a, "frame0"), _to_grey(b, "frame1")
    for name, arr in (("frame0", a), ("frame1", b)):
        if not np.all(np.isfinite(arr)):
            raise UserInputError(f"{name} contains NaN or infinite values")
    if min(a.shape) < min_size:
        raise UserInputError(f"frames of shape {a.shape} are too small: at least {min_size} x {min_size} pixels needed")
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
        raise UserInputError(f"flow must have shape {image.shape + (2,)} for an image of shape {image.shape}, "
                             f"got {flow.shape}")
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w]
    x = xx + flow[..., 0]
    y = yy + flow[..., 1]
    if method == "bicubic":
        return warp_bicubic(image, x, y)
    if method == "bilinear":
        return warp_bilinear(image, x, y)
    raise UserInputError(f"method must be 'bicubic' or 'bilinear', got {method!r}")


def _check_zoom(zoom):
    if isinstance(zoom, bool) or not np.isscalar(zoom) or not np.isreal(zoom) or not 0 < zoom < 1:
        raise UserInputError(f"zoom must be a number in (0, 1), got {zoom!r}")
    return float(zoom)


def check_positive_int(name, value):
    """``value`` as an int when it is a whole number >= 1; a one-line error naming ``name`` otherwise.

    The one check of the flow methods' counts (``n_levels``, ``n_warps``,
    ``max_iterations``, ``n_iterations``): a fractional count is refused, not
    truncated, and 0 is refused, not run as "no iteration".

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int or whole float

    Returns
    -------
    int

    Raises
    ------
    UserInputError
        A value that is not a whole number >= 1 (booleans included).

    Examples
    --------
    >>> check_positive_int("n_warps", 5.0)
    5
    """
    ok = not isinstance(value, bool) and np.isscalar(value) and np.isreal(value)
    if ok:
        try:
            ok = float(value).is_integer() and value >= 1
        except (TypeError, ValueError, OverflowError):
            ok = False
    if not ok:
        raise UserInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def zoom_size(shape, zoom=0.5):
    """Size of a pyramid level: ``int(n * zoom + 0.5)`` per axis (IPOL's rule).

    Parameters
    ----------
    shape : tuple of ints
    zoom : float in (0, 1)
        Ratio between the sizes of two successive levels.

    Returns
    -------
    tuple of ints, at least 1 each

    Examples
    --------
    >>> zoom_size((64, 48), 0.5)
    (32, 24)
    """
    zoom = _check_zoom(zoom)
    return tuple(max(int(n * zoom + 0.5), 1) for n in shape)


def zoom_out(image, zoom=0.5):
    """Downsample by ``zoom`` < 1: Gaussian anti-aliasing, then bicubic sampling (IPOL's zoom_out).

    Parameters
    ----------
    image : ndarray, shape (H, W)
    zoom : float in (0, 1)

    Returns
    -------
    ndarray, shape zoom_size((H, W), zoom)

    Examples
    --------
    >>> zoom_out(np.ones((32, 20)), 0.5).shape
    (16, 10)
    """
    zoom = _check_zoom(zoom)
    sigma = 0.6 * np.sqrt(1.0 / zoom ** 2 - 1.0)
    smooth = ndimage.gaussian_filter(image, sigma, mode="nearest")
    h2, w2 = zoom_size(image.shape, zoom)
    y, x = np.mgrid[0:h2, 0:w2].astype(image.dtype)
    return warp_bicubic(smooth, x / zoom, y / zoom)


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


def n_levels_for(shape, zoom=0.5, coarsest=16):
    """Pyramid levels so that the coarsest is about ``coarsest`` pixels: ``1 + log(hypot / coarsest) / log(1/zoom)``.

    Parameters
    ----------
    shape : tuple of 2 ints
    zoom : float in (0, 1)
    coarsest : float
        The diagonal, in pixels, the coarsest level should have about.

    Returns
    -------
    int, at least 1

    Examples
    --------
    >>> n_levels_for((128, 128))
    4
    """
    zoom = _check_zoom(zoom)
    diag = float(np.hypot(*shape))
    return max(1 + int(np.log(diag / coarsest) / np.log(1.0 / zoom)), 1)


def zoom_pyramid(image, n_levels, zoom=0.5):
    """The flow methods' image pyramid, finest level first: each level is :func:`zoom_out` of the previous.

    Not to be confused with :func:`mer_lib.magnify.gaussian_pyramid` (Burt and
    Adelson's binomial filter and exact halving, for magnification): this one
    follows IPOL's flow programs, with any ratio ``zoom`` and a Gaussian whose
    width depends on it.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    n_levels : int, at least 1
    zoom : float in (0, 1)

    Returns
    -------
    list of ndarray
        ``n_levels`` images, each ``zoom`` times the size of the previous.

    Examples
    --------
    >>> [level.shape for level in zoom_pyramid(np.zeros((64, 40)), 3)]
    [(64, 40), (32, 20), (16, 10)]
    """
    n_levels = check_positive_int("n_levels", n_levels)
    levels = [image]
    for _ in range(n_levels - 1):
        levels.append(zoom_out(levels[-1], zoom))
    return levels


def pair_pyramids(i0, i1, zoom=0.5, n_levels=None, presmooth=0.8):
    """Validated coarse-to-fine pyramids of a normalised pair (used by :func:`coarse_to_fine`).

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
    UserInputError
        A zoom outside (0, 1), an ``n_levels`` that is not a positive
        integer, a negative ``presmooth``, or an image smaller than the
        coarsest level needs.
    """
    zoom = _check_zoom(zoom)
    if not np.isscalar(presmooth) or not np.isfinite(presmooth) or presmooth < 0:
        raise UserInputError(f"presmooth must be a number >= 0, got {presmooth!r}")
    auto = n_levels_for(i0.shape, zoom)
    levels = auto if n_levels is None else check_positive_int("n_levels", n_levels)
    coarsest = i0.shape
    for _ in range(levels - 1):
        coarsest = zoom_size(coarsest, zoom)
    if min(coarsest) < 4:
        raise UserInputError(f"an image of {i0.shape[0]} x {i0.shape[1]} pixels is smaller than the coarsest "
                             f"pyramid level needs: {levels} levels at zoom {zoom} leave {coarsest[0]} x "
                             f"{coarsest[1]} pixels (at least 4 x 4); use fewer levels (at most {auto} here)")
    if presmooth > 0:
        i0 = ndimage.gaussian_filter(i0, presmooth, mode="nearest")
        i1 = ndimage.gaussian_filter(i1, presmooth, mode="nearest")
    return zoom_pyramid(i0, levels, zoom), zoom_pyramid(i1, levels, zoom)


def check_initial_flow(initial_flow, shape):
    """Validate a starting flow for an image of ``shape``; returns it as float64 or None.

    Parameters
    ----------
    initial_flow : array_like, shape (H, W, 2), or None
    shape : tuple of 2 ints
        (H, W) of the frames.

    Returns
    -------
    ndarray, shape (H, W, 2), float64, or None

    Raises
    ------
    UserInputError
        A wrong shape or a non-finite value.
    """
    if initial_flow is None:
        return None
    flow = np.asarray(initial_flow, dtype=np.float64)
    if flow.shape != tuple(shape) + (2,):
        raise UserInputError(f"initial_flow must have shape {tuple(shape) + (2,)} (the frames' (H, W, 2)), "
                             f"got {flow.shape}")
    if not np.all(np.isfinite(flow)):
        raise UserInputError("initial_flow contains NaN or infinite values")
    return flow


def coarse_to_fine(i0, i1, solver, *, zoom=0.5, n_levels=None, presmooth=0.8, initial_flow=None,
                   dtype=np.float32):
    """The coarse-to-fine driver shared by Horn-Schunck and TV-L1 (scikit-image's ``coarse_to_fine``).

    Both images are pre-smoothed and reduced into pyramids
    (:func:`pair_pyramids`); ``solver`` refines the flow at the coarsest
    level, the flow is upsampled to the next level and multiplied by
    ``1 / zoom`` (its vectors are in pixels of that level), and so on to the
    finest level.

    Parameters
    ----------
    i0, i1 : ndarray, shape (H, W)
        The normalised pair (:func:`normalize_pair`).
    solver : callable
        ``solver(i0_level, i1_level, flow, state) -> (flow, state)``: refines
        ``flow`` (shape (h, w, 2), the level's size) at one level. ``state``
        is None at the coarsest level, then whatever the solver returned at
        the previous level, each array of it upsampled to this level without
        scaling (TV-L1's dual field); a solver with no state returns None.
    zoom : float in (0, 1), default 0.5
        Ratio between the sizes of successive levels.
    n_levels : int, optional
        Pyramid levels; by default so that the coarsest is about 16 pixels.
    presmooth : float, default 0.8
        Standard deviation of the Gaussian pre-smoothing (0 turns it off).
    initial_flow : array_like, shape (H, W, 2), optional
        Where the descent starts, in pixels of the frames; None: zero. It is
        reduced level by level like the images (and scaled by ``zoom`` per
        level), and every level starts from it: the coarsest from its
        reduction, each finer level from its own reduction plus the
        correction the coarser levels made to theirs (upsampled and scaled),
        ``flow_l = start_l + zoom_in(flow_(l+1) - start_(l+1)) / zoom``. So
        the start's detail finer than the coarsest level is not lost, and a
        solver that changes nothing returns the start itself. (Passing only
        the reduced start to the coarsest level, as OpenCV does, would keep
        only the start's coarse part.)
    dtype : numpy dtype, default float32
        Working precision of the flow.

    Returns
    -------
    flow : ndarray, shape (H, W, 2), ``dtype``

    Raises
    ------
    UserInputError
        A zoom outside (0, 1), an image too small for the pyramid, or an
        ``initial_flow`` of the wrong shape or not finite.

    Examples
    --------
    A solver that leaves the flow as it is returns the initial flow, its
    finest detail included:

    >>> keep = lambda a, b, flow, state: (flow, None)
    >>> start = np.zeros((32, 32, 2))
    >>> start[::2, :, 0] = 1.0                      # a stripe pattern no coarser level can hold
    >>> flow = coarse_to_fine(np.zeros((32, 32)), np.zeros((32, 32)), keep, initial_flow=start)
    >>> bool(np.allclose(flow, start, atol=1e-5))
    True
    """
    start = check_initial_flow(initial_flow, i0.shape)
    pyr0, pyr1 = pair_pyramids(i0, i1, zoom, n_levels, presmooth)
    levels = len(pyr0)
    starts = None
    if start is None:
        flow = np.zeros(pyr0[-1].shape + (2,), dtype)
    else:
        starts = [start]   # the starting flow, reduced like the images, in pixels of each level
        for _ in range(levels - 1):
            starts.append(np.stack([zoom_out(starts[-1][..., c], zoom) for c in range(2)], axis=-1) * zoom)
        flow = starts[-1].astype(dtype)
    state = None
    for level in range(levels - 1, -1, -1):
        flow, state = solver(pyr0[level], pyr1[level], flow, state)
        if level > 0:
            shape = pyr0[level - 1].shape
            if starts is None:
                flow = zoom_in(flow, shape) / zoom
            else:   # this level's start, plus what the coarser levels corrected
                flow = (starts[level - 1] + zoom_in(flow - starts[level], shape) / zoom).astype(dtype)
            if state is not None:
                state = [zoom_in(s, shape) for s in state]
    return flow.astype(dtype, copy=False)
