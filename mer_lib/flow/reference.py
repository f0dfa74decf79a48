"""Thin wrappers around the TV-L1 implementations of OpenCV and scikit-image.

Both return the library's convention, shape (H, W, 2), ``flow[..., 0]``
horizontal, ``flow[..., 1]`` vertical, with ``frame1(x + flow(x)) ~ frame0(x)``,
and accept any real numeric dtype and range: the pair is min-max normalised
together to [0, 1] float32 first (OpenCV accepts only 8-bit or float32 in
[0, 1], multiplying floats by 255 internally; scikit-image's default
attachment assumes [0, 1]).
"""

from __future__ import annotations

import numpy as np

from mer_lib.flow.common import as_grey_pair, normalize_pair

__all__ = ["opencv_tvl1", "skimage_tvl1", "OPENCV_FAST"]

#: The sensible fast reference setting for OpenCV (ALGORITHMS.md): a deep pyramid.
OPENCV_FAST = dict(nscales=10, scale_step=0.5)


def opencv_tvl1(frame0, frame1, *, tau=0.25, lam=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01,
                inner_iterations=30, outer_iterations=10, scale_step=0.8, gamma=0.0, median_filtering=5):
    """OpenCV's Dual TV-L1 (``cv2.optflow.DualTVL1OpticalFlow``), in the library's convention.

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W) or (H, W, 3)
        Any real numeric dtype and range.
    tau, lam, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step, gamma, median_filtering
        OpenCV's parameters, with OpenCV's defaults. With ``scale_step`` 0.8
        and 5 scales the pyramid is shallow and large motion fails; pass
        ``**OPENCV_FAST`` (10 scales, step 0.5) for a deep pyramid.

    Returns
    -------
    ndarray, shape (H, W, 2), float32

    Examples
    --------
    A 3-pixel translation, with the deep pyramid of :data:`OPENCV_FAST`:

    >>> from mer_lib.flow.testdata import translated_pair
    >>> f0, f1, gt = translated_pair(3.0, 0.0, size=64)
    >>> flow = opencv_tvl1(f0, f1, **OPENCV_FAST)
    >>> round(float(np.median(flow[..., 0])), 1)
    3.0
    """
    import cv2

    if not hasattr(cv2, "optflow"):
        raise ImportError("cv2.optflow is missing: install opencv-contrib-python (not opencv-python)")
    f0, f1 = as_grey_pair(frame0, frame1)
    a, b = normalize_pair(f0, f1, 0.0, 1.0, np.float32)
    algo = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=tau, lambda_=lam, theta=theta, nscales=nscales, warps=warps, epsilon=epsilon,
        innnerIterations=inner_iterations, outerIterations=outer_iterations, scaleStep=scale_step,
        gamma=gamma, medianFiltering=median_filtering)
    return np.asarray(algo.calc(a, b, None), np.float32)


def skimage_tvl1(frame0, frame1, **kwargs):
    """scikit-image's ``optical_flow_tvl1``, in the library's convention.

    scikit-image returns (row, col) = (v, u); this wrapper returns (u, v).

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W) or (H, W, 3)
        Any real numeric dtype and range.
    **kwargs
        Passed to ``skimage.registration.optical_flow_tvl1`` (attachment,
        tightness, num_warp, num_iter, tol, prefilter).

    Returns
    -------
    ndarray, shape (H, W, 2), float32

    Examples
    --------
    The vertical component comes second, as everywhere in the library:

    >>> from mer_lib.flow.testdata import translated_pair
    >>> f0, f1, gt = translated_pair(0.0, -0.5, size=64)     # moves up by 0.5 px
    >>> round(float(np.median(skimage_tvl1(f0, f1)[..., 1])), 1)
    -0.5
    """
    from skimage.registration import optical_flow_tvl1

    f0, f1 = as_grey_pair(frame0, frame1)
    a, b = normalize_pair(f0, f1, 0.0, 1.0, np.float32)
    v, u = optical_flow_tvl1(a, b, **kwargs)
    return np.stack([u, v], axis=-1).astype(np.float32)
