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
            Case("64 x 64", ((64, 64),)), Case("16 x 16", ((16, 16),))]


register(Exercise("tvl1.n_levels", _levels_cases, n_levels_for,
                  advice={"500 x 741 (motorcycle)": "1 + int(log2(hypot(h, w) / 16))"}))
