"""Exercises of chapter 4, TV-L1 (book/04_tvl1.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.flow.common import divergence_backward, gradient_forward, n_levels_for
from mer_lib.flow.tvl1 import threshold_step


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
    rng = np.random.default_rng(10)
    return [Case("a constant px, zero py", (np.ones((3, 4)), np.zeros((3, 4)))),
            Case("random 5x5", tuple(rng.standard_normal((2, 5, 5))))]


register(Exercise("tvl1.divergence", _divergence_cases, divergence_backward,
                  advice={"a constant px, zero py": "backward differences: the first column keeps px, the last "
                                                    "is -px of the column before it."}))


def _levels_cases():
    return [Case("128 x 128", ((128, 128),)), Case("500 x 741 (motorcycle)", ((500, 741),)),
            Case("64 x 64", ((64, 64),)), Case("16 x 16", ((16, 16),)), Case("30 x 30", ((30, 30),))]


register(Exercise("tvl1.n_levels", _levels_cases, n_levels_for,
                  advice={"500 x 741 (motorcycle)": "halve the size until the coarsest level is about 16 px "
                                                    "across; the chapter measures the size by the image's "
                                                    "diagonal, not by its width or height.",
                          "16 x 16": "an image already about 16 px across still has one level (itself).",
                          "64 x 64": "count the levels, the original included: 64 -> 32 -> 16 ...",
                          "30 x 30": "the size that is compared with 16 px is the diagonal, not the side."}))


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
