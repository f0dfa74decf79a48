"""Temporal filters applied to per-pixel signals of a clip (pyramid bands, phase differences).

Three choices, shared by the linear and the phase-based magnifiers:

- ``None`` / ``"reference"``: the signal minus its value in the reference frame
  (all temporal frequencies; the right choice for 8-frame clips, where a
  band-pass has nothing to work with);
- ``"iir"``: the difference of two first-order low-pass filters with rates
  ``r1 > r2`` (Wu et al. 2012), streaming from the reference frame;
- ``"ideal"``: an ideal band-pass between ``band = (f_lo, f_hi)`` Hz at ``fps``,
  by FFT over time (it needs the whole clip at once).
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["check_temporal", "ideal_bandpass", "IIRBandpass", "frequency_response"]

_CHOICES = (None, "reference", "iir", "ideal")


def check_temporal(temporal, fps, band, r1, r2):
    """Validate the temporal-filter arguments; returns the normalised choice."""
    if temporal not in _CHOICES:
        raise UserInputError(f"temporal must be None, 'reference', 'iir' or 'ideal', got {temporal!r}")
    if temporal == "ideal":
        if fps is None or fps <= 0:
            raise UserInputError(f"temporal='ideal' needs fps > 0, got {fps!r}")
        if band is None or len(band) != 2 or not 0 <= band[0] < band[1] <= fps / 2:
            raise UserInputError(f"band must be (f_lo, f_hi) with 0 <= f_lo < f_hi <= fps / 2, got {band!r}")
    if temporal == "iir" and not 0 < r2 < r1 <= 1:
        raise UserInputError(f"temporal='iir' needs 0 < r2 < r1 <= 1, got r1={r1!r}, r2={r2!r}")
    return "reference" if temporal is None else temporal


def ideal_bandpass(signal, fps, band, axis=0):
    """Keep the temporal frequencies in ``band`` (Hz) of ``signal`` along ``axis``.

    Parameters
    ----------
    signal : ndarray, shape (T, ...)
    fps : float
    band : tuple of 2 floats
    axis : int

    Returns
    -------
    ndarray, same shape, real

    Raises
    ------
    UserInputError
        ``fps <= 0`` or a band that is not ``0 <= f_lo < f_hi <= fps / 2``
        (a reversed band would keep nothing).

    Examples
    --------
    >>> t = np.arange(30) / 30.0                       # one second at 30 fps
    >>> slow, fast = np.sin(2 * np.pi * 2 * t), np.sin(2 * np.pi * 10 * t)
    >>> bool(np.allclose(ideal_bandpass(slow + fast, 30, (1, 5)), slow))
    True
    """
    check_temporal("ideal", fps, band, 0.4, 0.05)
    signal = np.asarray(signal)
    n = signal.shape[axis]
    freqs = np.abs(np.fft.fftfreq(n, d=1.0 / fps))
    keep = (freqs >= band[0]) & (freqs <= band[1])
    shape = [1] * signal.ndim
    shape[axis] = n
    spectrum = np.fft.fft(signal, axis=axis) * keep.reshape(shape)
    return np.real(np.fft.ifft(spectrum, axis=axis))


class IIRBandpass:
    """Streaming band-pass: the difference of two exponential low-pass filters (Wu et al. 2012).

    Parameters
    ----------
    first : ndarray
        The signal at the reference frame (both low-pass filters start there).
    r1, r2 : float
        Rates of the fast and slow low-pass filters (``r1 > r2``).

    Examples
    --------
    A step from 0 to 1: the output rises, then decays back to 0 as both
    low-pass filters catch up, as ``(1 - r2)^k - (1 - r1)^k``.

    >>> bandpass = IIRBandpass(np.zeros(1), r1=0.4, r2=0.05)
    >>> [round(float(bandpass(np.ones(1))[0]), 3) for _ in range(3)]
    [0.35, 0.542, 0.641]
    """

    def __init__(self, first, r1=0.4, r2=0.05):
        check_temporal("iir", None, None, r1, r2)
        self.low1 = np.array(first, copy=True)
        self.low2 = np.array(first, copy=True)
        self.r1, self.r2 = r1, r2

    def __call__(self, value):
        """Feed the next value; return the band-passed value."""
        self.low1 += self.r1 * (value - self.low1)
        self.low2 += self.r2 * (value - self.low2)
        return self.low1 - self.low2


def frequency_response(temporal, freqs, fps, band=None, r1=0.4, r2=0.05):
    """Gain of a temporal filter at the given frequencies.

    ``"iir"`` is the difference of two exponential low-pass filters
    ``y_k = y_(k-1) + r (x_k - y_(k-1))``, each with the transfer function
    ``H_r(z) = r / (1 - (1 - r) z^-1)``; its gain is ``|H_r1 - H_r2|`` at
    ``z = exp(2 pi i f / fps)``. ``"ideal"`` is 1 inside ``band`` and 0
    outside.

    Parameters
    ----------
    temporal : {"iir", "ideal"}
    freqs : array_like, shape (F,)
        Frequencies in Hz, between 0 and ``fps / 2``.
    fps : float
        Frame rate.
    band : tuple of 2 floats, optional
        ``(f_lo, f_hi)`` in Hz, for ``"ideal"``.
    r1, r2 : float
        Rates of the ``"iir"`` filter (``0 < r2 < r1 <= 1``).

    Returns
    -------
    ndarray, shape (F,)
        The gain (magnitude of the response), from 0 to at most 1.

    Raises
    ------
    UserInputError
        An unknown ``temporal``, ``fps <= 0``, frequencies outside
        ``[0, fps / 2]``, or settings that :func:`check_temporal` refuses.

    Examples
    --------
    >>> frequency_response("iir", [0.0, 2.0, 15.0], fps=30).round(3)
    array([0.   , 0.694, 0.224])
    """
    if temporal not in ("iir", "ideal"):
        raise UserInputError(f"temporal must be 'iir' or 'ideal' (the others are not linear filters), got {temporal!r}")
    if fps is None or not fps > 0:
        raise UserInputError(f"fps must be > 0, got {fps!r}")
    check_temporal(temporal, fps, band, r1, r2)
    freqs = np.asarray(freqs, dtype=float)
    if freqs.ndim != 1 or np.any(freqs < 0) or np.any(freqs > fps / 2 + 1e-12):
        raise UserInputError(f"freqs must be a 1D array of frequencies in [0, fps / 2 = {fps / 2:g}] Hz")
    if temporal == "ideal":
        return ((freqs >= band[0]) & (freqs <= band[1])).astype(float)
    z_inv = np.exp(-2j * np.pi * freqs / fps)
    lowpass = lambda r: r / (1 - (1 - r) * z_inv)  # noqa: E731
    return np.abs(lowpass(r1) - lowpass(r2))
