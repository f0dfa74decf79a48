"""Riesz-pyramid phase-based magnification (Wadhwa, Rubinstein, Durand & Freeman, ICCP 2014).

The complex steerable pyramid is replaced by a Laplacian pyramid plus the
Riesz transform of each band: :func:`magnify_riesz` uses the exact transform,
computed with FFTs (:func:`riesz_transform`); the paper's approximation, two
3-tap difference filters ``[0.5, 0, -0.5]``, is there for comparison
(``riesz_transform(band, exact=False)``: its gain ``sin(w)`` is right only near
a quarter of the sampling frequency). A band value ``I`` and its Riesz pair ``(R1, R2)`` form a
quaternion ``I + i R1 + j R2``, whose *quaternionic phase* ``phi`` and
orientation ``theta`` play the role of the local phase of the steerable
pyramid's band at the dominant orientation. Far less overcomplete (one real
band per scale instead of one complex band per orientation), hence much faster.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from mer_lib.magnify.common import (NORM_GUARD, _begin, _end, _frames_in_order, amplitude_weighted_blur, check_levels,
                                    current_fft_workers)

__all__ = ["magnify_riesz", "riesz_transform"]

_RIESZ = np.array([0.5, 0.0, -0.5])


def _laplacian_cv(image, n_levels):
    """Laplacian pyramid with OpenCV's pyrDown / pyrUp, in C++ for speed.

    The same 5-tap binomial filters as
    :func:`mer_lib.magnify.common.laplacian_pyramid`, but OpenCV's border rule
    (reflect-101: ``dcb|abcd|cba``) where ``laplacian_pyramid`` mirrors with
    the edge pixel repeated (``cba|abcd|dcb``): the two pyramids agree in the
    interior, to rounding, and differ in the few pixels along each level's
    border. Both rebuild their image exactly from their own bands."""
    import cv2

    gauss = [image]
    for _ in range(n_levels - 1):
        gauss.append(cv2.pyrDown(gauss[-1]))
    bands = [g - cv2.pyrUp(gn, dstsize=(g.shape[1], g.shape[0])) for g, gn in zip(gauss[:-1], gauss[1:])]
    return bands + [gauss[-1]]


def _collapse_cv(bands):
    import cv2

    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + cv2.pyrUp(image, dstsize=(band.shape[1], band.shape[0]))
    return image


def riesz_transform(band, exact=True):
    """Riesz transform of a band, the 2D generalisation of the Hilbert transform.

    Parameters
    ----------
    band : ndarray, shape (h, w)
    exact : bool, default True
        True: in the frequency domain, ``-i w_x / |w|`` and ``-i w_y / |w|``
        (three real FFTs of the band). False: Wadhwa et al.'s 3-tap
        approximation ``[0.5, 0, -0.5]``, whose gain ``sin(w)`` is right only
        near ``w = pi / 2``.

    Returns
    -------
    r1, r2 : ndarray, shape (h, w)

    Examples
    --------
    The Riesz transform of a plane wave is its quadrature (the sine for a
    cosine), split along the wave's direction:

    >>> x = np.arange(32)
    >>> band = np.tile(np.cos(2 * np.pi * x / 8), (16, 1))      # a wave along x
    >>> r1, r2 = riesz_transform(band)
    >>> bool(np.allclose(r1, np.sin(2 * np.pi * x / 8))), bool(np.allclose(r2, 0))
    (True, True)
    """
    if not exact:
        r1 = ndimage.correlate1d(band, _RIESZ, axis=1, mode="reflect")
        r2 = ndimage.correlate1d(band, _RIESZ, axis=0, mode="reflect")
        return r1, r2
    import scipy.fft as sfft

    h, w = band.shape
    k1, k2 = _riesz_filters(h, w, np.dtype(band.dtype).str)
    workers = current_fft_workers()
    spectrum = sfft.rfft2(band, workers=workers)
    r1 = sfft.irfft2(spectrum * k1, s=(h, w), workers=workers)
    r2 = sfft.irfft2(spectrum * k2, s=(h, w), workers=workers)
    return r1.astype(band.dtype, copy=False), r2.astype(band.dtype, copy=False)


@lru_cache(maxsize=16)
def _riesz_filters(h, w, dtype):
    """The exact Riesz transfer functions ``-i w_x / |w|``, ``-i w_y / |w|`` on the rfft2 grid of an
    (h, w) band, in the complex precision of the band's dtype (complex128 for float64 bands): a few
    shapes per clip (one per pyramid level), so a small cache."""
    import scipy.fft as sfft

    complex_dtype = np.result_type(np.dtype(dtype), np.complex64)
    fy = sfft.fftfreq(h)[:, None]
    fx = sfft.rfftfreq(w)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    return (-1j * fx / radius).astype(complex_dtype), (-1j * fy / radius).astype(complex_dtype)


def _phase_difference(cur, ref):
    """Quaternionic phase difference (phi cos theta, phi sin theta) and amplitude of cur relative to ref.

    The product of the current quaternion with the conjugate of the reference
    one has the phase difference as its angle and the orientation in its
    imaginary part.
    """
    (c0, c1, c2), (p0, p1, p2) = cur, ref
    q_real = c0 * p0 + c1 * p1 + c2 * p2
    q_x = p0 * c1 - c0 * p1
    q_y = p0 * c2 - c0 * p2
    norm = np.sqrt(q_x * q_x + q_y * q_y)
    phase = np.arctan2(norm, q_real)        # in [0, pi]
    norm += NORM_GUARD
    scale = phase / norm
    amplitude = np.sqrt(np.sqrt(q_real * q_real + norm * norm))
    return scale * q_x, scale * q_y, amplitude


def _shift(cur, phase_cos, phase_sin):
    """Real part of the band after multiplying its quaternion by exp(phase)."""
    c0, c1, c2 = cur
    magnitude = np.sqrt(phase_cos * phase_cos + phase_sin * phase_sin) + NORM_GUARD
    sin_m = np.sin(magnitude) / magnitude
    return np.cos(magnitude) * c0 - phase_cos * sin_m * c1 - phase_sin * sin_m * c2


def magnify_riesz(frames, alpha, *, reference=0, sigma=2.0, n_levels=None, progress=False):
    """Phase-based magnification with a Riesz pyramid: the fast alternative to :func:`magnify_phase`.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Colour clips are magnified in luma only.
    alpha : float
        A motion ``delta`` becomes about ``(1 + alpha) delta``; negative values attenuate.
    reference : int, default 0
    sigma : float, default 2.0
        Amplitude-weighted smoothing of the phase, in pixels of each band.
    n_levels : int, optional
        Laplacian levels including the residual, from 2 (one band) to
        ``floor(log2(min(H, W))) - 1`` (the coarsest level keeps at least 4
        pixels); by default ``floor(log2(min(H, W))) - 2``, at least 2.
    progress : bool

    Returns
    -------
    ndarray, same shape as ``frames``, float64

    Raises
    ------
    UserInputError
        A bad clip, ``alpha`` or ``sigma``, or an ``n_levels`` out of its
        range (1 level would be the residual alone: nothing to magnify).

    References
    ----------
    Wadhwa, Rubinstein, Durand & Freeman, "Riesz pyramids for fast phase-based
    video magnification", ICCP 2014.

    Examples
    --------
    >>> from mer_lib.magnify.testdata import grating_clip, measured_shift
    >>> clip = grating_clip(0.1)               # a grating moving right by 0.1 px per frame
    >>> round(measured_shift(magnify_riesz(clip, 10), 1), 2)   # (1 + alpha) times as far
    1.1
    """
    alpha, luma, chroma, reference = _begin(frames, alpha, reference, sigma)
    t, h, w = luma.shape
    default = max(int(np.floor(np.log2(min(h, w)))) - 2, 2)
    levels = check_levels(default if n_levels is None else n_levels, (h, w), minimum=2)
    luma32 = luma.astype(np.float32)
    ref_bands = _laplacian_cv(luma32[reference], levels)
    ref = [(b, *riesz_transform(b)) for b in ref_bands[:-1]]
    out = np.empty_like(luma)
    order = _frames_in_order(t, progress, "Riesz magnification")
    for k in order:
        bands = _laplacian_cv(luma32[k], levels)
        new = []
        for band, ref_q in zip(bands[:-1], ref):
            cur = (band, *riesz_transform(band))
            pc, ps, amp = _phase_difference(cur, ref_q)
            pc, ps = amplitude_weighted_blur((pc, ps), amp, sigma)
            new.append(_shift(cur, pc * np.float32(alpha), ps * np.float32(alpha)))
        out[k] = _collapse_cv(new + [bands[-1]])
    return _end(out, chroma)
