"""TV-L1 optical flow by the duality algorithm (Zach, Pock & Bischof 2007).

Following the IPOL reference (Sánchez, Meinhardt-Llopis & Facciolo, "TV-L1
optical flow estimation", IPOL 2013), with its defaults: tau 0.25, lambda 0.15
(images on a 0-255 scale), theta 0.3, zoom 0.5 down to about 16 pixels, 5
warps per level, stopping threshold ``tol`` 0.01 (IPOL's epsilon) on the root
mean square of an iteration's update, at most 300 iterations per warp.

The energy is ``E(u) = sum |grad u1| + |grad u2| + lambda |rho(u)|`` with the
linearised residual ``rho(u) = I1w + grad I1w . (u - u0) - I0``. Introducing an
auxiliary field ``v`` close to ``u`` (weight 1/(2 theta)) splits it into

1. a pointwise problem in ``v``, solved in closed form by thresholding
   (:func:`threshold_step`), and
2. a total-variation (ROF) problem in ``u``, solved by Chambolle's dual
   projection (the dual step inside :func:`_tvl1_level`).

Chapter ``book/04_tvl1.md`` derives both steps.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError
from mer_lib.flow.common import (as_grey_pair, check_positive_int, coarse_to_fine, gradient_centered, normalize_pair,
                                 warp_bicubic)

__all__ = ["tvl1", "threshold_step"]
_GRAD_IS_ZERO = 1e-10   # |grad I1w|^2 below this: no gradient, the threshold step leaves u as it is


def threshold_step(u1, u2, rho, grad_x, grad_y, grad_sq, lt):
    """The pointwise step of TV-L1: minimise ``|v - u|^2 / (2 theta) + lambda |rho(v)|`` for each pixel.

    With ``lt = lambda * theta`` and ``g = grad I1w``, the minimiser is

    - ``v = u + lt g``            where ``rho(u) < -lt |g|^2``,
    - ``v = u - lt g``            where ``rho(u) >  lt |g|^2``,
    - ``v = u - rho(u) g / |g|^2`` otherwise (the residual is brought to 0),

    and ``v = u`` where the image gradient is zero.

    Parameters
    ----------
    u1, u2 : ndarray, shape (H, W)
        Current flow components.
    rho : ndarray, shape (H, W)
        Linearised residual at ``u``.
    grad_x, grad_y : ndarray, shape (H, W)
        Gradient of the warped second image.
    grad_sq : ndarray, shape (H, W)
        ``grad_x**2 + grad_y**2``.
    lt : float
        ``lambda * theta``.

    Returns
    -------
    v1, v2 : ndarray, shape (H, W)
    """
    # The three cases are one clipping: -rho/|g|^2 is the step that zeroes the
    # residual, and the L1 term caps it at +-lt. Where g = 0 the step is
    # multiplied by 0, so v = u there, as required.
    step = np.clip(-rho / np.maximum(grad_sq, _GRAD_IS_ZERO), -lt, lt).astype(u1.dtype)
    return u1 + step * grad_x, u2 + step * grad_y


def _tvl1_level(i0, i1, u1, u2, p, lam, theta, tau, n_warps, tol, max_iterations, counts):
    """TV-L1 at one pyramid level, starting from (u1, u2) and the dual field p (all updated in place).

    The loop is :func:`threshold_step` and Chambolle's dual step written for both
    flow components at once, as (2, H, W) arrays, on preallocated buffers: at
    these sizes NumPy's time goes to per-call overhead and temporaries, not to
    arithmetic.
    """
    i1x, i1y = gradient_centered(i1)
    stack = np.stack([i1, i1x, i1y], axis=-1)  # warped together: one set of weights for three images
    h, w = i0.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(i0.dtype)
    lt = lam * theta
    tau_theta = tau / theta
    u = np.stack([u1, u2])                      # (2, H, W): u[0] horizontal, u[1] vertical
    px = np.stack([p[0], p[2]])                 # dual variables: x and y parts for each component
    py = np.stack([p[1], p[3]])
    g = np.empty_like(u)
    old, div, ux, uy, norm = (np.empty_like(u) for _ in range(5))
    rho, step = np.empty_like(u1), np.empty_like(u1)
    threshold = tol * tol * h * w
    for _ in range(n_warps):
        warped = warp_bicubic(stack, xx + u[0], yy + u[1])
        i1w = warped[..., 0]
        g[0], g[1] = warped[..., 1], warped[..., 2]
        neg_inv_grad_sq = -1.0 / np.maximum(g[0] * g[0] + g[1] * g[1], _GRAD_IS_ZERO)
        rho_c = i1w - g[0] * u[0] - g[1] * u[1] - i0
        n = 0
        for n in range(1, max_iterations + 1):
            # threshold step: v = u + clip(-rho / |g|^2, -lt, lt) g
            np.multiply(g[0], u[0], out=rho)
            rho += rho_c
            np.multiply(g[1], u[1], out=step)
            rho += step
            np.multiply(rho, neg_inv_grad_sq, out=step)
            np.clip(step, -lt, lt, out=step)
            old[...] = u
            u += step * g
            # u = v + theta div p   (backward differences, both components at once)
            div[:, :, 0] = px[:, :, 0]
            np.subtract(px[:, :, 1:-1], px[:, :, :-2], out=div[:, :, 1:-1])
            div[:, :, -1] = -px[:, :, -2]
            div[:, 0] += py[:, 0]
            div[:, 1:-1] += py[:, 1:-1] - py[:, :-2]
            div[:, -1] -= py[:, -2]
            div *= theta
            u += div
            np.subtract(u, old, out=old)
            error = float(np.vdot(old, old))
            # dual step: p = (p + (tau/theta) grad u) / (1 + (tau/theta) |grad u|), forward differences
            np.subtract(u[:, :, 1:], u[:, :, :-1], out=ux[:, :, :-1])
            ux[:, :, -1] = 0
            np.subtract(u[:, 1:], u[:, :-1], out=uy[:, :-1])
            uy[:, -1] = 0
            np.multiply(ux, ux, out=norm)
            norm += uy * uy
            np.sqrt(norm, out=norm)
            norm *= tau_theta
            norm += 1.0
            ux *= tau_theta
            uy *= tau_theta
            px += ux
            py += uy
            px /= norm
            py /= norm
            if error <= threshold:
                break
        counts.append(n)
    u1[...], u2[...] = u[0], u[1]
    p[0][...], p[2][...], p[1][...], p[3][...] = px[0], px[1], py[0], py[1]
    return u1, u2


def tvl1(frame0, frame1, *, tau=0.25, lam=0.15, theta=0.3, zoom=0.5, n_levels=None, n_warps=5, tol=0.01,
         max_iterations=300, presmooth=0.8, initial_flow=None, return_info=False):
    """TV-L1 optical flow from ``frame0`` to ``frame1``, coarse to fine with warping.

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W) or (H, W, 3)
        Any real numeric dtype and range: the pair is min-max normalised
        together to [0, 255], then smoothed (Gaussian, ``presmooth``).
    tau : float, default 0.25
        Time step of the dual projection: convergence is proven for tau <= 1/8
        (Chambolle 2004); 1/4, the default of IPOL and OpenCV, works in
        practice; larger values oscillate (chapter 4).
    lam : float, default 0.15
        Weight of the data term, for images on a 0-255 scale (smaller: smoother flow).
    theta : float, default 0.3
        Coupling between ``u`` and the auxiliary ``v``.
    zoom : float, default 0.5
        Ratio between the sizes of successive pyramid levels.
    n_levels : int, optional
        Pyramid levels; by default so that the coarsest is about 16 pixels.
    n_warps : int, default 5
        Warps (re-linearisations) per level.
    tol : float, default 0.01
        Stopping threshold (IPOL's epsilon): a warp's iterations stop when the
        root mean square of the update of ``u`` is at most ``tol``, i.e. its
        mean square at most ``tol**2``.
    max_iterations : int, default 300
        Iteration cap per warp.
    presmooth : float, default 0.8
        Standard deviation of the Gaussian pre-smoothing (0 turns it off).
    initial_flow : array_like, shape (H, W, 2), optional
        Where the descent starts, in pixels of the frames; None: zero. Every
        level starts from it: the coarsest from its reduction, each finer
        level from its own reduction plus the coarser levels' correction
        (:func:`mer_lib.flow.coarse_to_fine`).
    return_info : bool
        Also return a dict with the levels used and the iterations per warp.

    Returns
    -------
    flow : ndarray, shape (H, W, 2), float32
        ``flow[..., 0]`` horizontal, ``flow[..., 1]`` vertical, with
        ``frame1(x + flow(x)) ~ frame0(x)``.
    info : dict, only with ``return_info``

    Raises
    ------
    UserInputError
        Bad frames (different shapes, colour against grey, NaN), a setting
        out of its range, an ``initial_flow`` of the wrong shape, or an image
        too small for the requested pyramid.

    References
    ----------
    Zach, Pock & Bischof, "A duality based approach for realtime TV-L1 optical
    flow", DAGM 2007. Sánchez, Meinhardt-Llopis & Facciolo, "TV-L1 optical flow
    estimation", Image Processing On Line 3 (2013), pp. 137-150.

    Examples
    --------
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> f0 = ndimage.gaussian_filter(rng.random((64, 64)), 2)
    >>> f1 = ndimage.shift(f0, (0.0, 0.5), order=3, mode="nearest")   # moves right by 0.5 px
    >>> flow = tvl1(f0, f1)
    >>> round(float(np.median(flow[..., 0])), 1)
    0.5
    """
    f0, f1 = as_grey_pair(frame0, frame1)
    for name, value in (("tau", tau), ("lam", lam), ("theta", theta), ("tol", tol)):
        if not np.isscalar(value) or not np.isfinite(value) or value <= 0:
            raise UserInputError(f"{name} must be a positive number, got {value!r}")
    n_warps = check_positive_int("n_warps", n_warps)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    i0, i1 = normalize_pair(f0, f1, dtype=np.float32)
    counts: list = []

    def solve(j0, j1, flow, p):
        h, w = j0.shape
        p = [np.zeros((h, w), np.float32) for _ in range(4)] if p is None else p
        u1, u2 = _tvl1_level(j0, j1, flow[..., 0].copy(), flow[..., 1].copy(), p, lam, theta, tau, n_warps, tol,
                             max_iterations, counts)
        return np.stack([u1, u2], axis=-1), p

    flow = coarse_to_fine(i0, i1, solve, zoom=zoom, n_levels=n_levels, presmooth=presmooth,
                          initial_flow=initial_flow)
    if return_info:
        return flow, {"levels": len(counts) // n_warps, "iterations": counts}
    return flow
