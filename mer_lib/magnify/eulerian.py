"""Eulerian (linear) video magnification (Wu et al., SIGGRAPH 2012).

Each frame is split into a Laplacian pyramid; each band's change over time is
band-passed, multiplied by alpha and added back. For a small displacement
``delta`` of a pattern of wavelength ``lambda``, the first-order Taylor
expansion ``I(x - delta) ~ I(x) - delta I'(x)`` makes the added change look like
a displacement of ``(1 + alpha) delta`` - as long as
``(1 + alpha) delta < lambda / 8``. Beyond, it only brightens and darkens. And
the noise of each frame is multiplied too, by about alpha.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError
from mer_lib.magnify.common import _begin, _end, _frames_in_order, check_levels, collapse_laplacian, laplacian_pyramid
from mer_lib.magnify.temporal import IIRBandpass, check_temporal, ideal_bandpass

__all__ = ["magnify_linear", "level_alphas"]


def level_alphas(shape, n_levels, alpha, lambda_c=16.0, exaggeration=2.0):
    """Per-level amplification with Wu et al.'s attenuation by spatial wavelength.

    ``delta = lambda_c / 8 / (1 + alpha)``; level ``l`` (finest first) has a
    representative wavelength ``lambda_l``: the low-pass residual's is the
    frame diagonal / 3, and it halves at each finer level (so the coarsest
    band's is the diagonal / 6), as in Wu et al.'s MATLAB code. Each band
    gets ``min(alpha, exaggeration * (lambda_l / (8 delta) - 1))``; the finest
    band and the low-pass residual get 0.

    Parameters
    ----------
    shape : tuple of 2 ints
    n_levels : int
        Levels including the low-pass residual.
    alpha : float
    lambda_c : float or None
        Cut-off wavelength in pixels; None: no attenuation (alpha everywhere,
        the residual included).
    exaggeration : float

    Returns
    -------
    list of float, finest level first

    Raises
    ------
    UserInputError
        An ``n_levels`` that is not a positive integer.

    Examples
    --------
    >>> [round(a, 1) for a in level_alphas((128, 128), 6, 20, lambda_c=16)]
    [0.0, 7.9, 17.8, 20, 20, 0.0]
    """
    if isinstance(n_levels, bool) or not np.isscalar(n_levels) or not float(n_levels).is_integer() or n_levels < 1:
        raise UserInputError(f"n_levels must be a positive integer, got {n_levels!r}")
    n_levels = int(n_levels)
    if lambda_c is None:
        return [alpha] * n_levels
    delta = lambda_c / 8.0 / (1.0 + alpha)
    lam = float(np.hypot(*shape)) / 3.0
    out = [0.0] * n_levels
    for level in range(n_levels - 1, -1, -1):   # coarsest first
        if level in (0, n_levels - 1):
            out[level] = 0.0
        else:
            out[level] = min(alpha, exaggeration * (lam / delta / 8.0 - 1.0))
        lam /= 2.0
    return out


def magnify_linear(frames, alpha, *, temporal=None, reference=0, lambda_c=None, n_levels=None, fps=None,
                   band=None, r1=0.4, r2=0.05, exaggeration=2.0, progress=False):
    """Eulerian video magnification of a clip (Wu et al. 2012).

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Colour clips are magnified in luma (Y of YIQ) only.
    alpha : float
        Amplification; negative values attenuate the motion.
    temporal : {None, "reference", "iir", "ideal"}
        Temporal filter (see :mod:`mer_lib.magnify.temporal`); None: the
        change since the reference frame.
    reference : int, default 0
        The reference frame (the onset).
    lambda_c : float, optional
        Cut-off wavelength (pixels) for attenuating alpha on fine scales
        (Wu et al.'s default is 16); None turns attenuation off.
    n_levels : int, optional
        Laplacian pyramid levels, the low-pass residual included: from 2 to
        ``floor(log2(min(H, W))) - 1`` (the coarsest level keeps at least 4
        pixels), which is the default.
    fps, band, r1, r2
        Temporal-filter settings.
    exaggeration : float
        Wu et al.'s exaggeration factor for the attenuated alpha.
    progress : bool

    Returns
    -------
    ndarray, same shape as ``frames``, float64

    Raises
    ------
    UserInputError
        A bad clip, ``alpha`` or temporal setting, an ``n_levels`` out of its
        range, or settings under which no level is magnified (with
        ``lambda_c``, the finest band and the residual get 0, so 2 levels
        magnify nothing).

    References
    ----------
    Wu, Rubinstein, Shih, Guttag, Durand & Freeman, "Eulerian video
    magnification for revealing subtle changes in the world", ACM
    Transactions on Graphics 31(4), 2012.

    Examples
    --------
    >>> from mer_lib.magnify.testdata import grating_clip, measured_shift
    >>> clip = grating_clip(0.1)               # a grating moving right by 0.1 px per frame
    >>> round(measured_shift(magnify_linear(clip, 10), 1), 2)   # a little less than (1 + alpha) x 0.1 px:
    ...                                      # 1.1 px is past a sixteenth of the wavelength, where the linear
    ...                                      # approximation starts to fall short
    1.05
    """
    alpha, luma, chroma, reference = _begin(frames, alpha, reference)
    temporal = check_temporal(temporal, fps, band, r1, r2)
    t, h, w = luma.shape
    levels = check_levels(n_levels, (h, w), minimum=2) if n_levels is not None else check_levels(
        max(int(np.floor(np.log2(min(h, w)))) - 1, 2), (h, w), minimum=2)
    alphas = level_alphas((h, w), levels, alpha, lambda_c, exaggeration)
    if alpha != 0 and not any(alphas):
        raise UserInputError(f"no level would be magnified: with lambda_c={lambda_c!r} and {levels} levels every "
                             f"level's alpha is 0 ({alphas}); use more levels or a smaller lambda_c")
    out = np.empty_like(luma)
    order = _frames_in_order(t, progress, "linear magnification")
    if temporal == "ideal":
        pyramids = [laplacian_pyramid(luma[k], levels) for k in range(t)]
        filtered = [ideal_bandpass(np.stack([p[lv] for p in pyramids]), fps, band) for lv in range(levels)]
        for k in order:
            out[k] = collapse_laplacian([pyramids[k][lv] + alphas[lv] * filtered[lv][k] for lv in range(levels)])
    else:
        ref = laplacian_pyramid(luma[reference], levels)
        filters = [IIRBandpass(band_, r1, r2) for band_ in ref] if temporal == "iir" else None
        for k in order:
            pyr = laplacian_pyramid(luma[k], levels)
            if filters is None:
                changes = [pyr[lv] - ref[lv] for lv in range(levels)]
            else:
                changes = [filters[lv](pyr[lv]) for lv in range(levels)]
            out[k] = collapse_laplacian([pyr[lv] + alphas[lv] * changes[lv] for lv in range(levels)])
    return _end(out, chroma)
