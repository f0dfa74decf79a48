"""Horn-Schunck optical flow: the classic 1981 method and its multi-scale warped version.

The energy (Horn & Schunck 1981) adds to the linearised brightness-constancy
error a quadratic smoothness term weighted by alpha squared:

    E(u, v) = sum (Ix u + Iy v + It)^2 + alpha^2 (|grad u|^2 + |grad v|^2).

Its Euler-Lagrange equations, with the Laplacian approximated by
``kappa (mean of neighbours - centre)``, give an iterative update
(:func:`hs_update`). The classic method (``method="classic"``) iterates it at
one scale, which handles motion below about a pixel; the multi-scale version
(``method="multiscale"``, the default) follows the IPOL reference
(Meinhardt-Llopis, Sánchez & Kondermann, "Horn-Schunck optical flow with a
multi-scale strategy", IPOL 2013): coarse to fine, re-linearising around the
current flow (warping), with successive over-relaxation (SOR).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mer_lib.errors import UserInputError
from mer_lib.flow.common import (as_grey_pair, check_positive_int, coarse_to_fine, gradient_centered, normalize_pair,
                                 warp_bicubic)

__all__ = ["horn_schunck", "hs_update", "hs_derivatives", "hs_average"]

_HS_KERNEL = np.array([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])


def hs_derivatives(i0, i1):
    """The derivative estimates of Horn & Schunck (1981): averages over the 2x2x2 cube.

    Parameters
    ----------
    i0, i1 : ndarray, shape (H, W)

    Returns
    -------
    ex, ey, et : ndarray, shape (H, W)
        Estimates of dI/dx, dI/dy and dI/dt at the centre of each cube
        (the last row and column replicate their neighbours).
    """
    a = np.pad(i0, ((0, 1), (0, 1)), mode="edge")
    b = np.pad(i1, ((0, 1), (0, 1)), mode="edge")
    ex = 0.25 * (a[:-1, 1:] - a[:-1, :-1] + a[1:, 1:] - a[1:, :-1] + b[:-1, 1:] - b[:-1, :-1] + b[1:, 1:] - b[1:, :-1])
    ey = 0.25 * (a[1:, :-1] - a[:-1, :-1] + a[1:, 1:] - a[:-1, 1:] + b[1:, :-1] - b[:-1, :-1] + b[1:, 1:] - b[:-1, 1:])
    et = 0.25 * (b[:-1, :-1] - a[:-1, :-1] + b[1:, :-1] - a[1:, :-1] + b[:-1, 1:] - a[:-1, 1:] + b[1:, 1:] - a[1:, 1:])
    return ex, ey, et


def hs_average(u):
    """Horn & Schunck's local average: 1/6 for edge neighbours, 1/12 for corners (borders replicated).

    Parameters
    ----------
    u : ndarray, shape (H, W)

    Returns
    -------
    ndarray, shape (H, W)
    """
    return ndimage.correlate(u, _HS_KERNEL, mode="nearest")


def hs_update(u_avg, v_avg, ex, ey, et, alpha):
    """One Jacobi update of the classic Horn-Schunck iteration.

    ``u = u_avg - ex (ex u_avg + ey v_avg + et) / (alpha^2 + ex^2 + ey^2)``, and
    the same for ``v`` with ``ey``.

    Parameters
    ----------
    u_avg, v_avg : ndarray, shape (H, W)
        Local averages of the current flow.
    ex, ey, et : ndarray, shape (H, W)
        Image derivatives.
    alpha : float
        Smoothness weight.

    Returns
    -------
    u, v : ndarray, shape (H, W)
    """
    common = (ex * u_avg + ey * v_avg + et) / (alpha * alpha + ex * ex + ey * ey)
    return u_avg - ex * common, v_avg - ey * common


def _classic(i0, i1, alpha, n_iterations):
    ex, ey, et = hs_derivatives(i0, i1)
    u = np.zeros_like(i0)
    v = np.zeros_like(i0)
    for _ in range(n_iterations):
        u, v = hs_update(hs_average(u), hs_average(v), ex, ey, et, alpha)
    return u, v


def _neighbour_mean(u, out):
    """Mean of the 4 neighbours, borders replicated."""
    out[1:-1] = u[:-2] + u[2:]
    out[0] = u[0] + u[1]
    out[-1] = u[-2] + u[-1]
    out[:, 1:-1] += u[:, :-2] + u[:, 2:]
    out[:, 0] += u[:, 0] + u[:, 1]
    out[:, -1] += u[:, -2] + u[:, -1]
    out *= 0.25
    return out


def _hs_level(i0, i1, u, v, alpha, n_warps, tol, max_iterations, omega):
    ix, iy = gradient_centered(i1)
    stack = np.stack([i1, ix, iy], axis=-1)
    h, w = i0.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(i0.dtype)
    red = ((yy + xx) % 2 == 0).astype(i0.dtype)
    masks = (red, 1 - red)
    a2 = 4.0 * alpha * alpha  # alpha^2 times the 4-neighbour Laplacian's weight
    avg = np.empty_like(u)
    delta = np.empty_like(u)
    for _ in range(n_warps):
        warped = warp_bicubic(stack, xx + u, yy + v)
        i1w, gx, gy = warped[..., 0], warped[..., 1], warped[..., 2]
        # linearised constraint gx u + gy v = b around the current flow
        b = i0 - i1w + gx * u + gy * v
        du_den = omega / (gx * gx + a2)
        dv_den = omega / (gy * gy + a2)
        gxy = gx * gy
        gxb, gyb = gx * b, gy * b
        for _ in range(max_iterations):
            change = 0.0
            for mask in masks:  # red-black Gauss-Seidel with over-relaxation
                for x, y, gb, den in ((u, v, gxb, du_den), (v, u, gyb, dv_den)):
                    _neighbour_mean(x, avg)
                    # delta = omega * (gauss_seidel_value - x), on this colour only
                    np.multiply(avg, a2, out=delta)
                    delta += gb
                    delta -= gxy * y
                    delta *= den
                    delta -= omega * x
                    delta *= mask
                    x += delta
                    change += float(np.vdot(delta, delta))
            # IPOL's stopping rule: root mean square of the update below the tolerance
            if np.sqrt(change / (h * w)) < tol:
                break
    return u, v


def horn_schunck(frame0, frame1, *, method="multiscale", alpha=None, zoom=0.5, n_levels=None, n_warps=10,
                 tol=1e-4, max_iterations=150, omega=1.9, presmooth=0.8, n_iterations=200, initial_flow=None):
    """Horn-Schunck optical flow from ``frame0`` to ``frame1``.

    Parameters
    ----------
    frame0, frame1 : array_like, shape (H, W) or (H, W, 3)
        Any real numeric dtype and range: min-max normalised together to [0, 255].
    method : {"multiscale", "classic"}
        "multiscale" (default): the IPOL reference, coarse to fine with
        warping and SOR. "classic": the 1981 single-scale Jacobi iteration
        (for teaching; it only handles motion below about a pixel).
    alpha : float, optional
        Smoothness weight for images on a 0-255 scale; default 7 (IPOL's
        program default) for "multiscale" and 15 for "classic".
    zoom, n_levels, n_warps, tol, max_iterations, omega, presmooth
        Multi-scale settings, with the IPOL defaults: zoom 0.5 down to about
        16 pixels, 10 warps, stopping threshold ``tol`` 1e-4 on the root mean
        square of one SOR sweep's update, at most 150 SOR iterations, omega
        1.9, pre-smoothing sigma 0.8.
    n_iterations : int, default 200
        Jacobi iterations of the classic method.
    initial_flow : array_like, shape (H, W, 2), optional
        Where the multi-scale descent starts, in pixels of the frames; None:
        zero. Every level starts from it: the coarsest from its reduction,
        each finer level from its own reduction plus the coarser levels'
        correction (:func:`mer_lib.flow.coarse_to_fine`). The classic method
        starts from zero and refuses it.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        ``flow[..., 0]`` horizontal, ``flow[..., 1]`` vertical, with
        ``frame1(x + flow(x)) ~ frame0(x)``.

    Raises
    ------
    UserInputError
        Bad frames, an unknown ``method``, a setting out of its range (a
        non-positive ``alpha`` or ``tol``, ``omega`` outside (0, 2), a count
        ``n_levels``, ``n_warps``, ``max_iterations`` or ``n_iterations`` that
        is not a positive integer), or an image too small for the requested
        pyramid.

    References
    ----------
    Horn & Schunck, "Determining optical flow", Artificial Intelligence 17 (1981).
    Meinhardt-Llopis, Sánchez & Kondermann, "Horn-Schunck optical flow with a
    multi-scale strategy", Image Processing On Line 3 (2013), pp. 151-172.

    Examples
    --------
    >>> from mer_lib.flow.testdata import translated_pair
    >>> f0, f1, gt = translated_pair(0.0, 0.5, size=64)       # moves down by 0.5 px
    >>> flow = horn_schunck(f0, f1)
    >>> round(float(np.median(flow[..., 1])), 1)
    0.5
    """
    f0, f1 = as_grey_pair(frame0, frame1)
    if method not in ("multiscale", "classic"):
        raise UserInputError(f"method must be 'multiscale' or 'classic', got {method!r}")
    alpha = (7.0 if method == "multiscale" else 15.0) if alpha is None else float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise UserInputError(f"alpha must be a positive number, got {alpha!r}")
    if not np.isscalar(tol) or not np.isfinite(tol) or tol <= 0:
        raise UserInputError(f"tol must be a positive number, got {tol!r}")
    if not np.isscalar(omega) or not 0 < omega < 2:
        raise UserInputError(f"omega must be in (0, 2) for over-relaxation to converge, got {omega!r}")
    n_warps = check_positive_int("n_warps", n_warps)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    n_iterations = check_positive_int("n_iterations", n_iterations)
    i0, i1 = normalize_pair(f0, f1, dtype=np.float32)
    if method == "classic":
        if initial_flow is not None:
            raise UserInputError("initial_flow is for method='multiscale'; the classic method starts from zero")
        u, v = _classic(i0, i1, alpha, n_iterations)
        return np.stack([u, v], axis=-1).astype(np.float32)

    def solve(j0, j1, flow, state):
        u, v = _hs_level(j0, j1, flow[..., 0].copy(), flow[..., 1].copy(), alpha, n_warps, tol, max_iterations,
                         omega)
        return np.stack([u, v], axis=-1), None

    return coarse_to_fine(i0, i1, solve, zoom=zoom, n_levels=n_levels, presmooth=presmooth,
                          initial_flow=initial_flow)
