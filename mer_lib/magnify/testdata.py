"""Clips with known motion and noise for checking magnifiers (shared by the chapters, tests and benchmark)."""

from __future__ import annotations

import numpy as np

__all__ = ["grating_clip", "measured_shift", "static_noisy_clip"]


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
