"""Exercises of chapter 4, TV-L1 (book/04_tvl1.md)."""

import numpy as np
from scipy import ndimage

from mer_lib.exercises import Case, Exercise, register
from mer_lib.flow.common import divergence_backward, gradient_forward, zoom_in, zoom_out
from mer_lib.flow.tvl1 import threshold_step, tvl1


def _threshold_cases():
    rng = np.random.default_rng(8)
    u1, u2, rho, gx, gy = rng.standard_normal((5, 6, 6))
    gx[0, 0] = gy[0, 0] = 0.0
    return [Case("a pixel far below the band (rho < -lt |g|^2)",
                 (np.zeros(1), np.zeros(1), np.array([-5.0]), np.ones(1), np.zeros(1), np.ones(1), 0.1)),
            Case("a pixel far above the band (rho > lt |g|^2)",
                 (np.zeros(1), np.zeros(1), np.array([5.0]), np.ones(1), np.zeros(1), np.ones(1), 0.1)),
            Case("a pixel inside the band",
                 (np.zeros(1), np.zeros(1), np.array([0.05]), np.ones(1), np.ones(1), np.full(1, 2.0), 0.1)),
            Case("random 6x6 maps with a zero-gradient pixel", (u1, u2, rho, gx, gy, gx ** 2 + gy ** 2, 0.045))]


register(Exercise("tvl1.threshold_step", _threshold_cases, threshold_step,
                  advice={"a pixel inside the band": "inside the band, move by -rho g / |g|^2 so that the residual "
                                                     "becomes zero.",
                          "random 6x6 maps with a zero-gradient pixel": "where |g|^2 = 0, v = u (no division by "
                                                                        "zero)."}))


def _gradient_cases():
    rng = np.random.default_rng(9)
    return [Case("a horizontal ramp", (np.tile(np.arange(5.0), (3, 1)),)),
            Case("random 4x6", (rng.standard_normal((4, 6)),))]


register(Exercise("tvl1.forward_gradient", _gradient_cases, gradient_forward,
                  advice={"a horizontal ramp": "forward differences u[:, j+1] - u[:, j], and 0 on the last "
                                               "column (and last row for uy); return (ux, uy)."}))


def _divergence_cases():
    rng = np.random.default_rng(10)            # held-out fields, drawn here, of several shapes
    return [Case("a constant px, zero py", (np.ones((3, 4)), np.zeros((3, 4)))),
            Case("random 5x5", tuple(rng.standard_normal((2, 5, 5)))),
            Case("random 3x8 (more columns than rows)", tuple(rng.standard_normal((2, 3, 8)))),
            Case("random 7x2 (two columns only)", tuple(rng.standard_normal((2, 7, 2))))]


def _divergence_compare(got, expected, case):
    got = np.asarray(got, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}"
    if np.allclose(got, expected, rtol=1e-10, atol=1e-12):
        return None
    px, py = case.args
    u = np.random.default_rng(0).standard_normal(px.shape)
    ux, uy = gradient_forward(u)
    gap = float(np.sum(ux * px + uy * py) + np.sum(u * got))
    at = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(got - expected)), expected.shape))
    return (f"<grad u, p> + <u, div p> = {gap:.3g} for a random u, not 0: your divergence is not minus the adjoint "
            f"of forward_gradient (first wrong value at {at}: expected {expected[at]:.4f}, got {got[at]:.4f})")


register(Exercise("tvl1.divergence", _divergence_cases, divergence_backward, compare=_divergence_compare,
                  advice={"a constant px, zero py": "write <grad u, p> as a sum and collect the terms of each "
                                                    "u[i, j]: a pixel in the first or the last column appears in "
                                                    "fewer differences than one inside.",
                          "random 3x8 (more columns than rows)": "treat rows (py) and columns (px) alike, each "
                                                                 "along its own axis.",
                          "random 7x2 (two columns only)": "with two columns, every column is a border column."}))


def pyramid_flow(f0, f1, solve, n_levels):
    """Coarse to fine: refine a flow with ``solve`` on a pyramid of ``n_levels`` levels, coarsest first.

    Level 0 is the frames themselves; each next level is the previous one smoothed and halved
    (``mer_lib.flow.common.zoom_out``). At the coarsest level the flow starts at zero; after ``solve`` at a
    level, the flow is upsampled to the next finer level (``zoom_in``) and doubled, its vectors being in
    pixels of that level.

    Parameters
    ----------
    f0, f1 : ndarray, shape (H, W)
    solve : callable
        ``solve(i0, i1, flow) -> flow`` refines ``flow`` (h, w, 2) on one level's images (h, w).
    n_levels : int

    Returns
    -------
    ndarray, shape (H, W, 2)
    """
    pyr0, pyr1 = [np.asarray(f0, float)], [np.asarray(f1, float)]
    for _ in range(n_levels - 1):
        pyr0.append(zoom_out(pyr0[-1], 0.5))
        pyr1.append(zoom_out(pyr1[-1], 0.5))
    flow = np.zeros(pyr0[-1].shape + (2,))
    for level in range(n_levels - 1, -1, -1):
        flow = np.asarray(solve(pyr0[level], pyr1[level], flow), float)
        if level:
            flow = 2.0 * zoom_in(flow, pyr0[level - 1].shape)
    return flow


def _adds_one(i0, i1, flow):
    """A stand-in solver for the checker: it refines nothing, it adds 1 px to the flow it is given, so that
    the flow returned at the finest level tells how the levels were chained."""
    i0, i1, flow = np.asarray(i0), np.asarray(i1), np.asarray(flow, float)
    if i0.shape != i1.shape or flow.shape != i0.shape + (2,):
        raise ValueError(f"solve(i0, i1, flow) got images of shapes {i0.shape} and {i1.shape} and a flow of shape "
                         f"{flow.shape}: both images of one level, and a flow of their shape plus (2,)")
    return flow + 1.0


def _single_scale_tvl1(i0, i1, flow):
    """TV-L1 at one level, from the flow it is given (the library's, with a one-level pyramid)."""
    return tvl1(i0, i1, n_levels=1, initial_flow=flow)


def _pyramid_cases():
    rng = np.random.default_rng(51)            # held-out textures and displacements, drawn here
    tex = ndimage.gaussian_filter(rng.standard_normal((96, 96)), 0.7)   # fine: a coarse level aliases unless smoothed
    u, v = rng.uniform(4.0, 6.0) * np.array([1.0, -0.6])
    moved = ndimage.shift(tex, (v, u), order=3, mode="nearest")
    flat = lambda shape: (np.zeros(shape), np.zeros(shape))
    real = Case(MOVED, (tex, moved, _single_scale_tvl1, 4))
    real.truth = np.array([u, v])
    return [Case("a solver that adds 1 px at each level: 64x64, 4 levels", (*flat((64, 64)), _adds_one, 4)),
            Case("the same on 48x80, 3 levels", (*flat((48, 80)), _adds_one, 3)),
            Case("one level: the solver alone", (*flat((32, 32)), _adds_one, 1)),
            Case("odd sizes, 45x37, 3 levels", (*flat((45, 37)), _adds_one, 3)),
            real]


MOVED = "a fine texture moved by 4 to 6 px (drawn by the checker), single-scale TV-L1 at each of 4 levels"


def _pyramid_compare(got, expected, case):
    got = np.asarray(got, dtype=float)
    shape = np.shape(case.args[0]) + (2,)
    if got.shape != shape:
        return f"the flow must have the frames' shape plus (2,), {shape}; got {got.shape}"
    if not np.all(np.isfinite(got)):
        return "your flow is not finite everywhere"
    inner = got[4:-4, 4:-4]
    if case.args[2] is _adds_one:
        levels = case.args[3]
        want = 2.0 ** levels - 1                 # 1 at the coarsest level, doubled and 1 added at each finer one
        tol = 0.35 * (levels - 1) if case.label.startswith("odd") else 1e-3
        if np.abs(inner - want).max() > tol:
            return (f"the solver adds 1 px at each of the {levels} levels, so the flow at the finest level should "
                    f"be {want:g} px (up to {tol:g}); yours ranges from {inner.min():.3f} to {inner.max():.3f}")
        return None
    error = np.hypot(*(got[16:-16, 16:-16] - case.truth).reshape(-1, 2).T)
    if np.median(error) > 0.2:
        typical = np.median(got[16:-16, 16:-16].reshape(-1, 2), axis=0)
        return (f"the true displacement is {np.round(case.truth, 2)} px; your flow's median is {np.round(typical, 2)}, "
                f"a median error of {np.median(error):.2f} px")
    return None


register(Exercise("tvl1.pyramid_flow", _pyramid_cases, pyramid_flow, compare=_pyramid_compare,
                  advice={"a solver that adds 1 px at each level: 64x64, 4 levels":
                          "start at the coarsest level with a zero flow, and carry the flow from each level to "
                          "the next finer one: its vectors are in pixels of the level they were found on.",
                          "the same on 48x80, 3 levels": "rows and columns are halved alike; the flow you pass "
                                                         "to solve has the shape of that level's images.",
                          "one level: the solver alone": "with one level the pyramid is the frames themselves.",
                          "odd sizes, 45x37, 3 levels": "a level of odd size does not halve exactly: upsample "
                                                        "the flow to the finer level's exact shape.",
                          MOVED: "smooth before you subsample (or the coarse levels alias), and "
                                             "give solve the two images of the same level."}))


def chambolle_rof(v, theta, tau=0.25, n_iter=50):
    """Chambolle's dual iteration for the ROF problem min_u sum |grad u| + |u - v|^2 / (2 theta):
    from p = 0, p <- (p + tau/theta grad u) / (1 + tau/theta |grad u|) with u = v + theta div p;
    returns the final u = v + theta div p."""
    v = np.asarray(v, dtype=float)
    px = np.zeros_like(v)
    py = np.zeros_like(v)
    for _ in range(n_iter):
        ux, uy = gradient_forward(v + theta * divergence_backward(px, py))
        norm = 1 + tau / theta * np.hypot(ux, uy)
        px = (px + tau / theta * ux) / norm
        py = (py + tau / theta * uy) / norm
    return v + theta * divergence_backward(px, py)


def _rof_cases():
    rng = np.random.default_rng(13)
    step = np.zeros((8, 10))
    step[:, 5:] = 1.0
    return [Case("a constant image (nothing to remove: u = v)", (np.full((5, 6), 3.0), 0.5, 0.25, 20)),
            Case("one iteration on a vertical step", (step, 0.2, 0.25, 1)),
            Case("a vertical step, theta 0.2, 30 iterations", (step, 0.2, 0.25, 30)),
            Case("random 9x7, theta 1, tau 1/8", (rng.standard_normal((9, 7)), 1.0, 0.125, 40))]


register(Exercise("tvl1.chambolle_rof", _rof_cases, chambolle_rof, rtol=1e-6, atol=1e-8,
                  advice={"a constant image (nothing to remove: u = v)":
                          "a constant image has no variation: its gradient is zero, p stays 0 and u = v.",
                          "one iteration on a vertical step": "after one iteration only the pixels on either "
                          "side of the step change, by an amount set by tau/theta and theta; check the order "
                          "(u from the current p first, then p from the gradient of that u) and that the "
                          "step size is tau/theta, not tau.",
                          "a vertical step, theta 0.2, 30 iterations": "return u = v + theta div p from the final "
                          "p, computed after the last update of p.",
                          "random 9x7, theta 1, tau 1/8": "tau and theta enter only as their ratio tau/theta, "
                          "in the numerator and in the denominator of the update."}))
