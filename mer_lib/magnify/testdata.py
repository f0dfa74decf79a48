"""Clips with known motion and noise for checking magnifiers (shared by the chapters, tests and benchmark)."""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["grating_clip", "measured_shift", "static_noisy_clip", "PROFILES", "profile_image", "translating_clip",
           "fitted_shift"]


def grating_clip(delta, wavelength=16.0, size=128, n_frames=3):
    """A vertical sinusoidal grating translating right by ``delta`` pixels per frame.

    Parameters
    ----------
    delta : float
        Displacement per frame, in pixels.
    wavelength : float
        Period of the grating, in pixels.
    size : int
    n_frames : int

    Returns
    -------
    ndarray, shape (n_frames, size, size), values in [0.25, 0.75]
    """
    x = np.arange(size)
    return np.stack([np.tile(0.5 + 0.25 * np.cos(2 * np.pi * (x - t * delta) / wavelength), (size, 1))
                     for t in range(n_frames)])


def measured_shift(frames, t, wavelength=16.0, reference=0):
    """Shift of frame ``t`` relative to the reference, from the phase of the grating's frequency.

    Measured on the central half of the frame (away from the borders) and on
    the grating's own frequency, which is a band-pass measure: brightness
    changes at other frequencies (the low-pass residual) do not bias it.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W)
    t : int
    wavelength : float
    reference : int

    Returns
    -------
    float
        Pixels, positive to the right.
    """
    size = frames.shape[2]
    lo, hi = size // 4, 3 * size // 4
    e = np.exp(-2j * np.pi * np.arange(lo, hi) / wavelength)
    rows = slice(frames.shape[1] // 4, 3 * frames.shape[1] // 4)
    a = (frames[t][rows, lo:hi].mean(axis=0) * e).sum()
    b = (frames[reference][rows, lo:hi].mean(axis=0) * e).sum()
    return float(-np.angle(a / b) * wavelength / (2 * np.pi))


def static_noisy_clip(sigma=0.01, n_frames=4, size=96, seed=0):
    """A still, smooth random texture, clean and with Gaussian noise of standard deviation ``sigma``.

    Returns
    -------
    clean, noisy : ndarray, shape (n_frames, size, size)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(np.random.default_rng(seed + 1).random((size, size)), 2)
    clean = np.repeat(base[None], n_frames, axis=0)
    return clean, clean + rng.normal(0, sigma, clean.shape)


#: Broadband test patterns of :func:`profile_image`: every spatial frequency, not one.
PROFILES = ("edge", "blob", "bar")


def profile_image(profile, shift=0.0, size=64, width=1.5):
    """A broadband pattern centred in a square image, moved right by ``shift`` pixels.

    Parameters
    ----------
    profile : {"edge", "blob", "bar"}
        "edge": a vertical step from 0.25 to 0.75, blurred by a Gaussian of
        standard deviation ``width``; "blob": a Gaussian spot of standard
        deviation ``2 width``; "bar": a vertical line of standard deviation
        ``width``.
    shift : float
        Displacement to the right, in pixels (sub-pixel values are exact: the
        pattern is rendered from its formula).
    size : int
        The image is ``size`` x ``size``.
    width : float
        Blur of the pattern, in pixels (> 0).

    Returns
    -------
    ndarray, shape (size, size), float64, values in [0.25, 0.75]

    Raises
    ------
    UserInputError
        An unknown ``profile``, ``size < 8`` or ``width <= 0``.
    """
    from scipy.special import erf

    if profile not in PROFILES:
        raise UserInputError(f"profile must be one of {PROFILES}, got {profile!r}")
    if int(size) < 8:
        raise UserInputError(f"size must be at least 8, got {size!r}")
    if not width > 0:
        raise UserInputError(f"width must be > 0, got {width!r}")
    size = int(size)
    x = np.arange(size) - size / 2 - float(shift)
    y = np.arange(size) - size / 2
    if profile == "edge":
        row = 0.5 + 0.25 * erf(x / (np.sqrt(2) * width))
        return np.tile(row, (size, 1))
    if profile == "bar":
        return np.tile(0.25 + 0.5 * np.exp(-0.5 * (x / width) ** 2), (size, 1))
    s = 2 * width
    return 0.25 + 0.5 * np.exp(-0.5 * ((x[None, :] / s) ** 2 + (y[:, None] / s) ** 2))


def translating_clip(profile, delta, size=64, n_frames=2, width=1.5):
    """A broadband pattern of :func:`profile_image` moving right by ``delta`` pixels per frame.

    Returns
    -------
    ndarray, shape (n_frames, size, size)
    """
    return np.stack([profile_image(profile, t * delta, size, width) for t in range(n_frames)])


def fitted_shift(image, profile, size=64, width=1.5, max_shift=16.0, step=0.05):
    """The shift of a (magnified) image of a pattern, fitted against the pattern rendered at every shift.

    For each candidate shift ``s`` the rendered pattern is fitted to the image
    with a gain and an offset (least squares: magnifiers drop or keep
    residual bands, which changes contrast but not position); the best ``s``
    is returned with its relative residual, which measures the artefacts
    (ringing, blur) that no translation explains.

    Parameters
    ----------
    image : ndarray, shape (size, size)
    profile : {"edge", "blob", "bar"}
    size, width : as for :func:`profile_image`
    max_shift : float
        Candidates run from ``-max_shift`` to ``max_shift``.
    step : float
        Candidate spacing in pixels; the best one is refined by a bounded scalar search.

    Returns
    -------
    shift : float
        Pixels, positive to the right.
    residual : float
        RMS of the fit's residual divided by the RMS of the image's variation
        (0: a perfect translation).
    """
    image = np.asarray(image, float)
    if image.shape != (size, size):
        raise UserInputError(f"image must have shape ({size}, {size}), got {image.shape}")
    inner = (slice(size // 4, 3 * size // 4), slice(size // 8, 7 * size // 8))
    target = image[inner].ravel()
    spread = np.sqrt(np.mean((target - target.mean()) ** 2)) + 1e-12
    candidates = np.arange(-max_shift, max_shift + step / 2, step)

    def residual(s):
        model = profile_image(profile, s, size, width)[inner].ravel()
        design = np.stack([model, np.ones_like(model)], axis=1)
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        return float(np.sqrt(np.mean((design @ coef - target) ** 2)))

    errors = np.array([residual(s) for s in candidates])
    i = int(np.argmin(errors))
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(residual, bounds=(candidates[i] - step, candidates[i] + step), method="bounded",
                           options={"xatol": 1e-4}).x
    return float(best), residual(best) / spread
