"""Exercises of chapter 3, Horn-Schunck (book/03_horn_schunck.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.flow.horn_schunck import hs_average, hs_update


def _update_cases():
    rng = np.random.default_rng(5)
    ua, va, ex, ey, et = rng.standard_normal((5, 6, 7))
    return [Case("scalars, alpha = 1", (0.0, 0.0, 1.0, 0.0, -1.0, 1.0)),
            Case("6x7 maps, alpha = 5", (ua, va, ex, ey, et, 5.0)),
            Case("6x7 maps, alpha = 0.5", (ua, va, ex, ey, et, 0.5))]


register(Exercise("horn_schunck.hs_update", _update_cases, hs_update,
                  advice={"scalars, alpha = 1": "u = u_avg - Ex (Ex u_avg + Ey v_avg + Et) / (alpha^2 + Ex^2 + Ey^2); "
                                                "return the pair (u, v).",
                          "6x7 maps, alpha = 0.5": "alpha enters squared."}))


def _average_cases():
    rng = np.random.default_rng(6)
    spike = np.zeros((5, 5))
    spike[2, 2] = 12.0
    return [Case("a single spike in the middle", (spike,)), Case("a constant field", (np.full((4, 6), 3.0),)),
            Case("random 7x8", (rng.standard_normal((7, 8)),))]


register(Exercise("horn_schunck.hs_average", _average_cases, hs_average,
                  advice={"a single spike in the middle": "edge neighbours weigh 1/6, corners 1/12, the centre 0.",
                          "a constant field": "replicate the border (scipy.ndimage mode='nearest'), so a "
                                              "constant stays constant."}))


def hs_energy(u, v, ex, ey, et, alpha):
    """Discrete Horn-Schunck energy: sum (Ex u + Ey v + Et)^2 + alpha^2 (|grad u|^2 + |grad v|^2),
    with forward differences (zero across the last row and column)."""
    def grad_sq(f):
        gx = np.zeros_like(f)
        gy = np.zeros_like(f)
        gx[:, :-1] = f[:, 1:] - f[:, :-1]
        gy[:-1] = f[1:] - f[:-1]
        return gx ** 2 + gy ** 2
    u, v = np.asarray(u, float), np.asarray(v, float)
    data = (ex * u + ey * v + et) ** 2
    return float(np.sum(data + alpha ** 2 * (grad_sq(u) + grad_sq(v))))


def _energy_cases():
    rng = np.random.default_rng(7)
    u, v, ex, ey, et = rng.standard_normal((5, 4, 5))
    zeros = np.zeros((3, 3))
    return [Case("zero flow (only the data term)", (zeros, zeros, np.ones((3, 3)), zeros, np.full((3, 3), 2.0), 1.0)),
            Case("random 4x5, alpha = 2", (u, v, ex, ey, et, 2.0)),
            Case("a flow that satisfies the data term", (np.ones((3, 3)), zeros, np.ones((3, 3)), zeros,
                                                         -np.ones((3, 3)), 3.0))]


register(Exercise("horn_schunck.hs_energy", _energy_cases, hs_energy,
                  advice={"random 4x5, alpha = 2": "forward differences f[:, 1:] - f[:, :-1] and f[1:] - f[:-1]; "
                                                   "alpha is squared."}))
