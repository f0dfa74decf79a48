"""Input checks, colour handling, spatial pyramids and FFT threads shared by the magnifiers."""

from __future__ import annotations


import numpy as np
from scipy import ndimage

from mer_lib.errors import UserInputError

__all__ = ["check_clip", "rgb_to_yiq", "yiq_to_rgb", "gaussian_pyramid", "laplacian_pyramid",
           "collapse_laplacian", "pyr_down", "pyr_up", "amplitude_weighted_blur", "fft_workers",
           "current_fft_workers", "max_levels", "check_levels"]

#: Added to a magnitude before dividing by it (a reference band's amplitude, a
#: quaternion's norm): the smallest normal float32, so that a zero magnitude gives
#: 0 / NORM_GUARD = 0 instead of NaN while every other value is left as it is.
#: (Smoothed weights use their dtype's machine epsilon instead: see
#: :func:`amplitude_weighted_blur`.)
NORM_GUARD = np.finfo(np.float32).tiny

# The FFT threads are one of the pools mer_lib.threads.bounded_threads sizes; they live there, re-exported here.
from mer_lib.threads import current_fft_workers, fft_workers  # noqa: E402

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(rgb):
    """RGB (..., 3) to YIQ (..., 3); Y is the luma."""
    return np.asarray(rgb) @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq):
    """YIQ (..., 3) back to RGB (..., 3)."""
    return np.asarray(yiq) @ _YIQ_TO_RGB.T


def check_clip(frames, reference=0, name="frames"):
    """Validate a clip and split off its colour.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3), or a list of frames
    reference : int
        Index of the reference frame (negative counts from the end).

    Returns
    -------
    luma : ndarray, shape (T, H, W), float64
    chroma : ndarray, shape (T, H, W, 2) or None
        The I and Q channels of colour clips (magnified in luma only).
    reference : int
        The reference index, made non-negative.

    Raises
    ------
    UserInputError
        Fewer than 2 frames, frames of different sizes, NaN or infinite
        values, a reference index out of range.
    """
    if isinstance(frames, (list, tuple)):
        shapes = {np.shape(f) for f in frames}
        if len(shapes) > 1:
            raise UserInputError(f"all frames of {name} must have the same size, got shapes {sorted(shapes)}")
    arr = np.asarray(frames)
    if arr.dtype == object:
        raise UserInputError(f"all frames of {name} must have the same size")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise UserInputError(f"{name} must have shape (T, H, W) or (T, H, W, 3), got {arr.shape}")
    if arr.shape[0] < 2:
        raise UserInputError(f"{name} must hold at least 2 frames to have motion to magnify, got {arr.shape[0]}")
    if min(arr.shape[1:3]) < 8:
        raise UserInputError(f"frames of {arr.shape[1]} x {arr.shape[2]} pixels are too small (at least 8 x 8)")
    if not np.all(np.isfinite(arr)):
        raise UserInputError(f"{name} contains NaN or infinite values")
    t = arr.shape[0]
    if not -t <= int(reference) < t:
        raise UserInputError(f"reference={reference} is out of range for a clip of {t} frames")
    reference = int(reference) % t
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 4:
        yiq = rgb_to_yiq(arr)
        return yiq[..., 0], yiq[..., 1:], reference
    return arr, None, reference


def _check_alpha(alpha):
    if not np.isscalar(alpha) or not np.isfinite(alpha):
        raise UserInputError(f"alpha must be a finite number (negative attenuates motion), got {alpha!r}")
    return float(alpha)


def _begin(frames, alpha, reference, sigma=None):
    """What every magnifier does first: check alpha (and sigma), the clip and the reference; split off colour.

    Returns ``(alpha, luma, chroma, reference)`` as :func:`check_clip` and
    ``_check_alpha`` give them.
    """
    alpha = _check_alpha(alpha)
    luma, chroma, reference = check_clip(frames, reference)
    if sigma is not None and (not np.isscalar(sigma) or not sigma >= 0):
        raise UserInputError(f"sigma must be >= 0, got {sigma!r}")
    return alpha, luma, chroma, reference


def _frames_in_order(n_frames, progress, desc):
    """``range(n_frames)``, behind a progress bar when asked."""
    if not progress:
        return range(n_frames)
    from mer_lib.env import progress_bar

    return progress_bar(range(n_frames), desc=desc)


def _end(luma, chroma):
    """What every magnifier does last: the magnified luma, with the clip's colour put back when it had one."""
    if chroma is None:
        return luma
    return yiq_to_rgb(np.concatenate([luma[..., None], chroma], axis=-1))


_KERNEL = np.array([1, 4, 6, 4, 1], float) / 16  # Burt & Adelson's 5-tap binomial


def pyr_down(image):
    """Blur with the 5-tap binomial kernel and keep every other pixel (Burt & Adelson)."""
    blurred = ndimage.correlate1d(ndimage.correlate1d(image, _KERNEL, axis=0, mode="reflect"),
                                  _KERNEL, axis=1, mode="reflect")
    return blurred[::2, ::2]


def pyr_up(image, shape):
    """Upsample to ``shape`` by zero insertion and blurring with twice the binomial kernel."""
    up = np.zeros(shape, dtype=image.dtype)
    up[::2, ::2] = image
    k = 2 * _KERNEL
    return ndimage.correlate1d(ndimage.correlate1d(up, k, axis=0, mode="reflect"), k, axis=1, mode="reflect")


def max_levels(shape):
    """The most levels a pyramid of halvings can have for an image of ``shape``: its coarsest level keeps
    at least 4 pixels on its shorter side, ``floor(log2(min(H, W))) - 1`` (at least 1).

    Parameters
    ----------
    shape : tuple of 2 ints

    Returns
    -------
    int

    Examples
    --------
    >>> max_levels((64, 48))        # 48, 24, 12, 6 pixels
    4
    """
    return max(int(np.floor(np.log2(min(shape)))) - 1, 1)


def check_levels(n_levels, shape, minimum=1):
    """``n_levels`` as an int when it is a whole number from ``minimum`` to :func:`max_levels`; a one-line
    error naming the range otherwise (as pyrtools' ``max_pyr_height`` check).

    Parameters
    ----------
    n_levels : int
    shape : tuple of 2 ints
        (H, W) of the finest level.
    minimum : int
        The fewest levels the caller can use (a magnifier needs a band and the residual: 2).

    Returns
    -------
    int

    Raises
    ------
    UserInputError
    """
    top = max_levels(shape)
    ok = not isinstance(n_levels, bool) and np.isscalar(n_levels) and np.isreal(n_levels)
    ok = ok and float(n_levels).is_integer() and minimum <= n_levels <= top
    if not ok:
        raise UserInputError(f"n_levels must be an integer from {minimum} to {max(top, minimum)} for frames of "
                             f"{shape[0]} x {shape[1]} pixels (the coarsest level keeps at least 4 pixels), "
                             f"got {n_levels!r}")
    return int(n_levels)


def gaussian_pyramid(image, n_levels):
    """Gaussian pyramid, finest first: each level blurred and halved.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    n_levels : int
        From 1 to :func:`max_levels` of the image's shape.

    Returns
    -------
    list of ndarray

    Raises
    ------
    UserInputError
        An ``n_levels`` out of that range.
    """
    n_levels = check_levels(n_levels, np.shape(image)[:2])
    levels = [np.asarray(image, dtype=float)]
    for _ in range(n_levels - 1):
        levels.append(pyr_down(levels[-1]))
    return levels


def laplacian_pyramid(image, n_levels):
    """Laplacian pyramid, finest first; the last level is the low-pass residual.

    ``collapse_laplacian(laplacian_pyramid(x, n))`` returns ``x`` exactly
    (up to rounding): each band is the difference between a Gaussian level and
    the expansion of the next.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    n_levels : int
        From 1 to :func:`max_levels` of the image's shape.

    Returns
    -------
    list of ndarray

    Raises
    ------
    UserInputError
        An ``n_levels`` out of that range.
    """
    gauss = gaussian_pyramid(image, n_levels)
    bands = [g - pyr_up(gn, g.shape) for g, gn in zip(gauss[:-1], gauss[1:])]
    return bands + [gauss[-1]]


def collapse_laplacian(bands):
    """Rebuild the image from a Laplacian pyramid.

    Parameters
    ----------
    bands : list of ndarray
        As returned by :func:`laplacian_pyramid`.

    Returns
    -------
    ndarray, shape of ``bands[0]``
    """
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + pyr_up(image, band.shape)
    return image


def amplitude_weighted_blur(values, amplitude, sigma):
    """Gaussian blur of ``values`` weighted by ``amplitude``: G*(A v) / G*A.

    Phase is meaningless where the amplitude is small; weighting by it lets
    the reliable neighbours decide.

    Parameters
    ----------
    values : ndarray, shape (h, w), or a tuple of them
        Several fields (the Riesz pyramid's two phase components) share one
        weight, whose blur is then computed once.
    amplitude : ndarray, shape (h, w)
    sigma : float
        Standard deviation in pixels; 0 returns ``values``.

    Returns
    -------
    ndarray, shape (h, w), or a tuple of them (as ``values``)

    Examples
    --------
    >>> values = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> weights = np.array([[1.0, 0.0], [1.0, 0.0]])    # only the left column is reliable
    >>> amplitude_weighted_blur(values, weights, 5.0).round(3).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    if sigma <= 0:
        return values
    fields = values if isinstance(values, tuple) else (values,)
    if all(f.dtype == np.float32 for f in fields) and amplitude.dtype == np.float32:
        import cv2

        blur = lambda a: cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    else:
        blur = lambda a: ndimage.gaussian_filter(a, sigma, mode="reflect")  # noqa: E731
    # machine epsilon: a weight whose blur is 0 (no reliable neighbour) gives 0, not 0 / 0
    denominator = blur(amplitude) + np.finfo(fields[0].dtype).eps
    out = tuple(blur(f * amplitude) / denominator for f in fields)
    return out if isinstance(values, tuple) else out[0]
