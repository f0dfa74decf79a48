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
                  advice={"scalars, alpha = 1": "here Ex = 1, Ey = 0, Et = -1 and the averages are 0: the "
                                                "update must move u towards the constraint line Ex u + Et = 0, "
                                                "but only part of the way (alpha holds it back). Return the "
                                                "pair (u, v).",
                          "6x7 maps, alpha = 5": "check the denominator: it combines the smoothness weight "
                                                 "with the squared gradient at the pixel.",
                          "6x7 maps, alpha = 0.5": "alpha = 0.5 < 1 tells alpha from alpha squared: look at how "
                                                   "alpha enters the energy."}))


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
                  advice={"random 4x5, alpha = 2": "the smoothness term counts each pair of horizontal and "
                                                   "vertical neighbours once (forward differences, nothing "
                                                   "across the last column or row); check how alpha "
                                                   "weighs it in the energy.",
                          "zero flow (only the data term)": "with zero flow only the data term is left: sum it "
                                                            "over the pixels, squared."}))


def horn_schunck_classic(ex, ey, et, alpha, tol=1e-3, max_iter=500):
    """The classic Horn-Schunck solver: Jacobi iterations of hs_update with hs_average from zero flow,
    stopping after the first iteration whose largest |change| of u or v is below tol (or max_iter).
    Returns (u, v, n_iterations)."""
    ex, ey, et = (np.asarray(a, dtype=float) for a in (ex, ey, et))
    u = np.zeros_like(ex)
    v = np.zeros_like(ex)
    n = 0
    for n in range(1, max_iter + 1):
        u_new, v_new = hs_update(hs_average(u), hs_average(v), ex, ey, et, alpha)
        change = max(np.abs(u_new - u).max(), np.abs(v_new - v).max())
        u, v = u_new, v_new
        if change < tol:
            break
    return u, v, n


def _classic_cases():
    rng = np.random.default_rng(12)
    ex, ey = rng.standard_normal((2, 12, 12)) * 10
    u0, v0 = 0.3, -0.2
    et = -(ex * u0 + ey * v0)                  # the constant flow (0.3, -0.2) satisfies the constraint everywhere
    from mer_lib.data import synthetic_dataset
    from mer_lib.flow.horn_schunck import hs_derivatives
    data = synthetic_dataset(seed=0, counts=(1, 0, 0), n_frames=4, size=48, noise=0.0, flicker=False,
                             blinks=False, head_motion=False)
    d = hs_derivatives(data.frames[0, 1] * 255.0, data.frames[0, 2] * 255.0)
    flat = np.zeros((6, 6))
    return [Case("a constant flow (0.3, -0.2) on a random texture", (ex, ey, et, 1.0, 1e-6, 2000)),
            Case("no texture at all (zero derivatives)", (flat, flat, flat, 1.0, 1e-3, 50)),
            Case("max_iter reached before tol", (ex, ey, et, 1.0, 1e-12, 5)),
            Case("a 48x48 SynthME pair, alpha 15", (*d, 15.0, 1e-3, 300))]


def _classic_compare(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return the tuple (u, v, n_iterations)"
    u, v, n = got
    if not np.isscalar(n) or isinstance(n, (bool, np.bool_)) or int(n) != n:
        return f"n_iterations should be a whole number, got {n!r}"
    for name, g, e in (("u", u, expected[0]), ("v", v, expected[1])):
        g = np.asarray(g, dtype=float)
        if g.shape != e.shape:
            return f"{name} should have shape {e.shape}, got {g.shape}"
        if not np.allclose(g, e, rtol=1e-4, atol=1e-4):
            at = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(g - e)), e.shape))
            return f"{name} at {at}: expected {e[at]:.6f}, got {g[at]:.6f}"
    if abs(int(n) - expected[2]) > 1:
        return (f"the flow is right, but the stopping rule is not: expected to stop after {expected[2]} "
                f"iterations, stopped after {int(n)}")
    return None


register(Exercise("horn_schunck.horn_schunck_classic", _classic_cases, horn_schunck_classic,
                  compare=_classic_compare,
                  advice={"a constant flow (0.3, -0.2) on a random texture":
                          "the answer is known: u = 0.3 and v = -0.2 everywhere. If your flow is far from it, "
                          "check that each iteration starts from the neighbours' average of the previous flow; "
                          "if only the count differs, look at what you compare with tol (the largest absolute "
                          "change of u or v in that iteration).",
                          "no texture at all (zero derivatives)":
                          "nothing moves the flow here, so the first iteration already changes nothing: the "
                          "loop should stop after 1 iteration.",
                          "max_iter reached before tol": "the loop must stop after max_iter iterations even "
                                                         "when the change is still above tol, and report that count.",
                          "a 48x48 SynthME pair, alpha 15": "compare the change with tol after each iteration, "
                                                            "using the largest absolute change of u and of v."}))
