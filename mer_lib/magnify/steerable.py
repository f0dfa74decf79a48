"""The complex steerable pyramid, built in the frequency domain for one image shape.

Following Portilla & Simoncelli (2000) and the half- and quarter-octave
variants of Wadhwa et al. (2013). Every filter is a product of a radial and an
angular function of the frequency:

- **radial**: on ``log2(radius)``, a chain of low-pass cut-offs spaced by the
  bandwidth (1, 1/2 or 1/4 octave) with raised-cosine transitions; band ``k``
  is ``sqrt(L_{k-1}^2 - L_k^2)``, so that the squares of the high-pass
  residual, every band and the low-pass residual sum to exactly 1
  (a tight frame: perfect reconstruction);
- **angular**: ``2 * alpha_K * cos^(K-1)(theta - theta_j)`` for ``K``
  orientations, kept on the half-plane where the cosine is positive, which
  makes each band complex (analytic): its magnitude is the local amplitude and
  its argument the local phase.

Bands are computed on a cropped part of the spectrum (the box holding the
band's support), so a band of a coarse scale is a small array: for 4
orientations at octave bandwidth the bands hold about 5.3 complex
coefficients per pixel of the image, and :meth:`ComplexSteerablePyramid.decompose`
also keeps the high-pass and low-pass residuals at full size (two more per
pixel); ``tests/magnify/test_steerable.py`` checks the count.
"""

from __future__ import annotations

from math import factorial

import numpy as np
import scipy.fft as sfft

from mer_lib.errors import UserInputError
from mer_lib.magnify.common import current_fft_workers  # threads per FFT: mer_lib.magnify.common.fft_workers

__all__ = ["ComplexSteerablePyramid", "BANDWIDTHS", "steering_weights"]

#: Bands per octave for each bandwidth name.
BANDWIDTHS = {"octave": 1, "half-octave": 2, "quarter-octave": 4}


def _cutoff(log_r, boundary, width):
    """Low-pass on log2(radius): 1 below boundary - width/2, 0 above boundary + width/2, raised cosine between."""
    t = np.clip((log_r - (boundary - width / 2)) / width, 0.0, 1.0)
    return np.cos(0.5 * np.pi * t)


def steering_weights(theta, n_orientations):
    """Weights that synthesise the angular filter at any angle from the K basis filters.

    The real angular filter ``cos^(K-1)(phi - theta)`` is a trigonometric
    polynomial in ``phi`` with the K frequencies ``K-1, K-3, ...`` only, so K
    copies of it at ``theta_j = pi j / K`` span every rotation (Freeman &
    Adelson 1991):

    ``cos^(K-1)(phi - theta) = sum_j w_j(theta) cos^(K-1)(phi - theta_j)``, with
    ``w_j(theta) = (1 / K) sum_m eps_m cos(m (theta - theta_j))`` over
    ``m = K-1, K-3, ... >= 0``, ``eps_0 = 1`` and ``eps_m = 2`` otherwise.

    Parameters
    ----------
    theta : float
        The angle to synthesise, in radians.
    n_orientations : int
        K, the number of basis orientations.

    Returns
    -------
    ndarray, shape (K,)
        ``w_j(theta)``; a band at angle ``theta`` of the real pyramid is
        ``sum_j w_j band_j``.

    Raises
    ------
    UserInputError
        When ``n_orientations`` is not a positive integer or ``theta`` is not finite.

    Examples
    --------
    >>> np.round(steering_weights(0.0, 4), 12)
    array([ 1.,  0., -0.,  0.])
    """
    if not isinstance(n_orientations, (int, np.integer)) or n_orientations < 1:
        raise UserInputError(f"n_orientations must be a positive integer, got {n_orientations!r}")
    if not np.isscalar(theta) or not np.isfinite(theta):
        raise UserInputError(f"theta must be a finite angle in radians, got {theta!r}")
    k = int(n_orientations)
    diff = float(theta) - np.pi * np.arange(k) / k
    weights = np.zeros(k)
    for m in range(k - 1, -1, -2):
        weights += (1.0 if m == 0 else 2.0) * np.cos(m * diff)
    return weights / k


class ComplexSteerablePyramid:
    """A complex steerable pyramid for images of one shape.

    Parameters
    ----------
    shape : tuple of 2 ints
        (H, W) of the images; any size, odd included (at least 8 x 8).
    n_orientations : int, default 4
        Orientations per scale (the paper of Wadhwa et al. uses 8 at
        half-octave bandwidth).
    bandwidth : {"octave", "half-octave", "quarter-octave"}
        Radial bandwidth of each band; narrower bands give more scales.
    n_octaves : int, optional
        Octaves covered by the bands; by default ``floor(log2(min(H, W))) - 2``.
    dtype : numpy dtype, default float64
        float64 for exact reconstruction, float32 for speed.

    Attributes
    ----------
    bands : list of (scale, orientation)
        The keys of the band coefficients, finest scale first.
    n_scales : int

    Examples
    --------
    >>> pyr = ComplexSteerablePyramid((64, 48))
    >>> image = np.random.default_rng(0).random((64, 48))
    >>> coeffs = pyr.decompose(image)
    >>> float(np.abs(pyr.reconstruct(coeffs) - image).max()) < 1e-10
    True
    """

    def __init__(self, shape, n_orientations=4, bandwidth="octave", n_octaves=None, dtype=np.float64):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 8:
            raise UserInputError(f"shape must be (H, W) with both sides at least 8, got {shape!r}")
        if bandwidth not in BANDWIDTHS:
            raise UserInputError(f"bandwidth must be one of {sorted(BANDWIDTHS)}, got {bandwidth!r}")
        if not isinstance(n_orientations, (int, np.integer)) or n_orientations < 1:
            raise UserInputError(f"n_orientations must be a positive integer, got {n_orientations!r}")
        max_octaves = int(np.floor(np.log2(min(shape)))) - 2
        n_octaves = max_octaves if n_octaves is None else n_octaves
        whole = not isinstance(n_octaves, bool) and np.isscalar(n_octaves) and float(n_octaves).is_integer()
        if not whole or not 1 <= n_octaves <= max(max_octaves, 1):
            raise UserInputError(f"n_octaves must be between 1 and {max(max_octaves, 1)} for shape {shape}, "
                                 f"got {n_octaves!r}")
        n_octaves = int(n_octaves)
        self.shape = shape
        self.n_orientations = int(n_orientations)
        self.bandwidth = bandwidth
        self.dtype = np.dtype(dtype)
        self.complex_dtype = np.result_type(self.dtype, np.complex64)
        per_octave = BANDWIDTHS[bandwidth]
        self.n_scales = n_octaves * per_octave
        width = 1.0 / per_octave
        h, w = shape
        # frequency grid, fftshifted so that DC sits at (h // 2, w // 2)
        fy = sfft.fftshift(sfft.fftfreq(h)) * 2 * np.pi
        fx = sfft.fftshift(sfft.fftfreq(w)) * 2 * np.pi
        wy, wx = np.meshgrid(fy, fx, indexing="ij")
        radius = np.hypot(wx, wy)
        with np.errstate(divide="ignore"):
            log_r = np.log2(radius)
        angle = np.arctan2(wy, wx)
        boundaries = [np.log2(np.pi) - width / 2 - k * width for k in range(self.n_scales + 1)]
        lows = [_cutoff(log_r, b, width) for b in boundaries]
        self.highpass_filter = np.sqrt(np.clip(1 - lows[0] ** 2, 0, None)).astype(self.dtype)
        self.lowpass_filter = lows[-1].astype(self.dtype)
        k = self.n_orientations
        norm = 2 ** (k - 1) * factorial(k - 1) / np.sqrt(k * factorial(2 * (k - 1)))
        self.bands = []
        self._filters = {}   # (scale, orientation) -> (box slices, filter on the box)
        for s in range(self.n_scales):
            radial = np.sqrt(np.clip(lows[s] ** 2 - lows[s + 1] ** 2, 0, None))
            support = radial > 0
            rows = np.flatnonzero(support.any(axis=1))
            cols = np.flatnonzero(support.any(axis=0))
            # a box centred on DC that holds the support (DC stays at index size // 2)
            half_h = max(h // 2 - rows.min(), rows.max() - h // 2) + 1
            half_w = max(w // 2 - cols.min(), cols.max() - w // 2) + 1
            bh, bw = min(2 * half_h, h), min(2 * half_w, w)
            r0, c0 = h // 2 - bh // 2, w // 2 - bw // 2
            box = (slice(r0, r0 + bh), slice(c0, c0 + bw))
            for j in range(k):
                theta = np.pi * j / k
                diff = np.angle(np.exp(1j * (angle[box] - theta)))
                on_edge = np.isclose(np.abs(diff), np.pi / 2, rtol=0, atol=1e-9)
                # frequencies on the half-plane's edge belong to both halves, half the energy each
                # (this matters only for one orientation: for more, the cosine is 0 there)
                angular = np.where(on_edge, np.sqrt(2) * norm * np.cos(diff) ** (k - 1),
                                   np.where(np.abs(diff) < np.pi / 2, 2 * norm * np.cos(diff) ** (k - 1), 0.0))
                filt = (radial[box] * angular).astype(self.dtype)
                # rows and columns of the box in the unshifted spectrum, in the
                # order of a DC-first spectrum of the box's size: no fftshift per band
                rows_u = (sfft.ifftshift(np.arange(bh) - bh // 2)) % h
                cols_u = (sfft.ifftshift(np.arange(bw) - bw // 2)) % w
                self._filters[(s, j)] = (box, sfft.ifftshift(filt), np.ix_(rows_u, cols_u))
                self.bands.append((s, j))
        self._box_shapes = {key: (box[0].stop - box[0].start, box[1].stop - box[1].start)
                            for key, (box, _, _) in self._filters.items()}
        self._highpass_u = sfft.ifftshift(self.highpass_filter)
        self._lowpass_u = sfft.ifftshift(self.lowpass_filter)

    def __repr__(self):
        return (f"ComplexSteerablePyramid(shape={self.shape}, n_orientations={self.n_orientations}, "
                f"bandwidth={self.bandwidth!r}, n_scales={self.n_scales})")

    def band_shape(self, key):
        """Shape of the coefficient array of band ``key`` = (scale, orientation)."""
        return self._box_shapes[key]

    def filter(self, key):
        """The frequency response of a band (or "highpass" / "lowpass") on the full, fftshifted grid.

        Returns
        -------
        ndarray, shape (H, W)
        """
        if key == "highpass":
            return self.highpass_filter
        if key == "lowpass":
            return self.lowpass_filter
        box, filt, _ = self._filters[key]
        full = np.zeros(self.shape, self.dtype)
        full[box] = sfft.fftshift(filt)
        return full

    def _spectrum(self, image):
        image = np.asarray(image)
        if image.shape != self.shape:
            raise UserInputError(f"this pyramid was built for images of shape {self.shape}, got {image.shape}")
        return sfft.fft2(image.astype(self.dtype, copy=False), workers=current_fft_workers())

    def decompose(self, image):
        """Decompose an image into complex bands and the two residuals.

        Parameters
        ----------
        image : ndarray, shape (H, W)

        Returns
        -------
        dict
            ``(scale, orientation)`` -> complex band (a cropped, smaller array
            for coarse scales), plus ``"highpass"`` and ``"lowpass"``: the
            residuals' spectra (unshifted, full size).
        """
        spectrum = self._spectrum(image)
        coeffs = {"highpass": spectrum * self._highpass_u, "lowpass": spectrum * self._lowpass_u}
        for key, (_, filt, index) in self._filters.items():
            coeffs[key] = sfft.ifft2(spectrum[index] * filt, workers=current_fft_workers())
        return coeffs

    def reconstruct(self, coeffs, highpass=True, lowpass=True):
        """Rebuild the image from (possibly modified) coefficients.

        Parameters
        ----------
        coeffs : dict
            As returned by :func:`decompose`.
        highpass, lowpass : bool
            Whether to add the residuals back.

        Returns
        -------
        ndarray, shape (H, W), real
        """
        total = np.zeros(self.shape, self.complex_dtype)
        if highpass:
            total += coeffs["highpass"] * self._highpass_u
        if lowpass:
            total += coeffs["lowpass"] * self._lowpass_u
        for key, (_, filt, index) in self._filters.items():
            # Each band is analytic (one half-plane of the spectrum). Re(ifft(X))
            # is the inverse transform of (X(w) + conj X(-w)) / 2, so the band,
            # counted at half weight, comes back whole with its mirror image;
            # the residuals are symmetric already.
            total[index] += 0.5 * (sfft.fft2(coeffs[key], workers=current_fft_workers()) * filt)
        return np.real(sfft.ifft2(total, workers=current_fft_workers()))
