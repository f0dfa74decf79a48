import numpy as np


def grating_clip(delta, wavelength=16.0, size=128, n_frames=3):
    """A vertical sinusoidal grating translating right by ``delta`` px per frame, shape (T, size, size)."""
    x = np.arange(size)
    return np.stack([np.tile(0.5 + 0.25 * np.cos(2 * np.pi * (x - t * delta) / wavelength), (size, 1))
                     for t in range(n_frames)])


def measured_shift(out, t, wavelength=16.0, size=128):
    """Shift of frame t relative to frame 0, from the phase of the grating's own frequency
    (a band-pass measure) in the central half of the frame, away from the borders."""
    lo, hi = size // 4, 3 * size // 4
    xs = np.arange(lo, hi)
    e = np.exp(-2j * np.pi * xs / wavelength)
    a = (out[t][lo:hi, lo:hi].mean(axis=0) * e).sum()
    b = (out[0][lo:hi, lo:hi].mean(axis=0) * e).sum()
    return -np.angle(a / b) * wavelength / (2 * np.pi)


def static_noisy_clip(sigma=0.01, n_frames=4, size=96, seed=0):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(np.random.default_rng(1).random((size, size)), 2)
    clean = np.repeat(base[None], n_frames, axis=0)
    return clean, clean + rng.normal(0, sigma, clean.shape)
