"""Exercises of chapter 2, optical flow theory (book/02_optical_flow_theory.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def brightness_residual(ix, iy, it, u, v):
    """The linearised brightness-constancy residual Ix u + Iy v + It (the paper's equation 1)."""
    return np.asarray(ix) * u + np.asarray(iy) * v + np.asarray(it)


def _residual_cases():
    rng = np.random.default_rng(2)
    ix, iy, it = rng.standard_normal((3, 5, 6))
    return [Case("scalars", (1.0, 2.0, -3.0, 1.0, 1.0)),
            Case("5x6 derivative maps, one flow vector", (ix, iy, it, 0.3, -0.2)),
            Case("5x6 derivative maps and flow maps", (ix, iy, it, rng.standard_normal((5, 6)),
                                                       rng.standard_normal((5, 6))))]


register(Exercise("flow_theory.brightness_residual", _residual_cases, brightness_residual,
                  advice={"scalars": "Ix u + Iy v + It: the time derivative enters with a plus sign."}))


def normal_flow(ix, iy, it):
    """The flow component along the image gradient: -It grad I / |grad I|^2, shape (..., 2); 0 where grad I = 0."""
    ix, iy, it = (np.asarray(a, dtype=float) for a in (ix, iy, it))
    g2 = ix * ix + iy * iy
    scale = np.divide(-it, g2, out=np.zeros_like(g2), where=g2 > 1e-12)
    return np.stack([scale * ix, scale * iy], axis=-1)


def _normal_cases():
    rng = np.random.default_rng(3)
    return [Case("a vertical edge (Ix = 2, Iy = 0, It = -1)", (2.0, 0.0, -1.0)),
            Case("an oblique gradient", (1.0, 1.0, 0.5)),
            Case("random 4x4 maps", tuple(rng.standard_normal((3, 4, 4)))),
            Case("a flat region (zero gradient)", (np.zeros(3), np.zeros(3), np.ones(3)))]


register(Exercise("flow_theory.normal_flow", _normal_cases, normal_flow,
                  advice={"a flat region (zero gradient)": "where the gradient is zero nothing can be measured: "
                                                            "return 0 there, not NaN.",
                          "a vertical edge (Ix = 2, Iy = 0, It = -1)": "stack (u, v) on the last axis."}))


def window_flow(ix, iy, it):
    """Least-squares flow of one window: solve [sum IxIx, sum IxIy; sum IxIy, sum IyIy] (u, v) = -(sum IxIt, sum IyIt)."""
    ix, iy, it = (np.ravel(np.asarray(a, dtype=float)) for a in (ix, iy, it))
    a = np.array([[ix @ ix, ix @ iy], [ix @ iy, iy @ iy]])
    b = -np.array([ix @ it, iy @ it])
    return np.linalg.solve(a, b)


def _window_cases():
    rng = np.random.default_rng(4)
    cases = []
    for label, (u, v) in (("a window moving right", (0.5, 0.0)), ("a window moving up-left", (-0.3, -0.4)),
                          ("a larger window", (0.2, 0.7))):
        n = 25 if label != "a larger window" else 81
        ix, iy = rng.standard_normal((2, n))
        it = -(ix * u + iy * v) + rng.normal(0, 0.01, n)
        cases.append(Case(label, (ix, iy, it)))
    return cases


register(Exercise("flow_theory.window_flow", _window_cases, window_flow, rtol=1e-6, atol=1e-8,
                  advice={"a window moving right": "minimise sum (Ix u + Iy v + It)^2: the normal equations "
                                                   "give a 2x2 system; return array([u, v])."}))
