"""Phase-based video magnification (Wadhwa, Rubinstein, Durand & Freeman, SIGGRAPH 2013).

A translation shifts the local phase of every complex steerable band in
proportion to the displacement: for a band tuned to wavelength ``lambda``, a
shift ``delta`` changes its phase by ``2 pi delta / lambda``. Multiplying each
band's phase change (relative to a reference frame) by ``1 + alpha`` therefore
moves the pattern by ``(1 + alpha) delta`` - without touching the amplitudes,
so noise is not amplified the way linear magnification amplifies it. For a
single sinusoid the bound is the phase wrap, ``(1 + alpha) delta < lambda / 2``;
for broadband images the bands are windowed, and the supported motion grows
with the window's width, i.e. as the bandwidth narrows (half- and
quarter-octave pyramids); book/07_phase_based_magnification.md measures both.

Frames stream through: memory holds the reference frame's pyramid and the
current frame's, not the whole clip's (except with ``temporal="ideal"``, which
needs every frame's phase at once).
"""

from __future__ import annotations

import numpy as np

from mer_lib.magnify.common import NORM_GUARD, _begin, _end, _frames_in_order, amplitude_weighted_blur
from mer_lib.magnify.steerable import ComplexSteerablePyramid
from mer_lib.magnify.temporal import IIRBandpass, check_temporal, ideal_bandpass

__all__ = ["magnify_phase", "phase_differences"]


def phase_differences(coeffs, reference_unit):
    """Wrapped phase of each band relative to the reference: angle(c * conj(c_ref) / |c_ref|), in (-pi, pi].

    Parameters
    ----------
    coeffs : dict
        Bands of the current frame, ``(scale, orientation)`` -> complex array.
    reference_unit : dict
        The reference frame's bands divided by their magnitude and conjugated.

    Returns
    -------
    dict of ndarray, real
    """
    return {key: np.angle(coeffs[key] * reference_unit[key]) for key in reference_unit}


def magnify_phase(frames, alpha, *, n_orientations=4, bandwidth="octave", reference=0, sigma=2.0,
                  temporal=None, fps=None, band=None, r1=0.4, r2=0.05, keep_highpass=False, dtype=np.float32,
                  progress=False):
    """Phase-based magnification of a grey (T, H, W) or colour (T, H, W, 3) clip.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Colour clips are magnified in luma (Y of YIQ) only.
    alpha : float
        Amplification: a motion ``delta`` becomes ``(1 + alpha) delta``; the
        paper uses 20. Negative values attenuate the motion.
    n_orientations : int, default 4
    bandwidth : {"octave", "half-octave", "quarter-octave"}
    reference : int, default 0
        The frame that phases are measured against (the onset).
    sigma : float, default 2.0
        Amplitude-weighted Gaussian smoothing of the phase, in pixels of each
        band (0 turns it off).
    temporal : {None, "reference", "iir", "ideal"}
        Temporal filter of the phase differences; None (default): every
        frequency, i.e. the phase change since the reference frame (an 8-frame
        clip is too short for a band-pass).
    fps, band, r1, r2
        Temporal-filter settings.
    keep_highpass : bool, default False
        The high-pass residual cannot be magnified; the reference
        implementation drops it (True keeps it, unmagnified).
    dtype : numpy dtype, default float32
        Working precision of the pyramid.
    progress : bool

    Returns
    -------
    ndarray, same shape as ``frames``, float64

    References
    ----------
    Wadhwa, Rubinstein, Durand & Freeman, "Phase-based video motion
    processing", ACM Transactions on Graphics 32(4), 2013.

    Examples
    --------
    >>> from mer_lib.magnify.testdata import grating_clip, measured_shift
    >>> clip = grating_clip(0.1)               # a grating moving right by 0.1 px per frame
    >>> round(measured_shift(magnify_phase(clip, 10), 1), 2)   # (1 + alpha) times as far
    1.1
    """
    alpha, luma, chroma, reference = _begin(frames, alpha, reference, sigma)
    temporal = check_temporal(temporal, fps, band, r1, r2)
    t = luma.shape[0]
    pyr = ComplexSteerablePyramid(luma.shape[1:], n_orientations, bandwidth, dtype=dtype)
    ref = pyr.decompose(luma[reference])
    ref_unit = {key: np.conj(ref[key]) / (np.abs(ref[key]) + NORM_GUARD) for key in pyr.bands}
    out = np.empty_like(luma)
    order = _frames_in_order(t, progress, "phase magnification")

    def shifted(coeffs, deltas):
        for key in pyr.bands:
            smooth = amplitude_weighted_blur(deltas[key].astype(pyr.dtype, copy=False),
                                             np.abs(coeffs[key]), sigma)
            smooth *= alpha
            # exp(i alpha phase), built from cos and sin: 10x faster than a complex exp
            rotation = np.empty(smooth.shape, pyr.complex_dtype)
            rotation.real = np.cos(smooth)
            rotation.imag = np.sin(smooth)
            coeffs[key] *= rotation
        return pyr.reconstruct(coeffs, highpass=keep_highpass)

    if temporal == "ideal":
        all_coeffs = [pyr.decompose(luma[k]) for k in range(t)]
        deltas = {key: ideal_bandpass(np.stack([np.angle(c[key] * ref_unit[key]) for c in all_coeffs]), fps, band)
                  for key in pyr.bands}
        for k in order:
            out[k] = shifted(all_coeffs[k], {key: deltas[key][k] for key in pyr.bands})
    else:
        filters = None
        if temporal == "iir":
            filters = {key: IIRBandpass(np.zeros(pyr.band_shape(key), pyr.dtype), r1, r2) for key in pyr.bands}
        for k in order:
            coeffs = pyr.decompose(luma[k])
            deltas = phase_differences(coeffs, ref_unit)
            if filters is not None:
                deltas = {key: filters[key](deltas[key]) for key in pyr.bands}
            out[k] = shifted(coeffs, deltas)
    return _end(out, chroma)
