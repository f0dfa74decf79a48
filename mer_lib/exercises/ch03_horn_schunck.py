"""Exercises of chapter 3, Horn-Schunck (book/03_horn_schunck.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.flow.horn_schunck import hs_average, hs_update


def _neighbour_sum(u):
    """Sum of the 4 neighbours inside the image (none across the border)."""
    s = np.zeros_like(u)
    s[1:] += u[:-1]
    s[:-1] += u[1:]
    s[:, 1:] += u[:, :-1]
    s[:, :-1] += u[:, 1:]
    return s


def red_black_sor(ex, ey, et, alpha, omega=1.9, n_sweeps=100):
    """Red-black SOR on the discrete Horn-Schunck system, from zero flow.

    The system (chapter 3): at pixel i with its n_i neighbours N_i inside the image,
    ``(Ex^2 + alpha^2 n_i) u_i + Ex Ey v_i = alpha^2 sum_{N_i} u_j - Ex Et`` and the same for v with Ey.
    A sweep updates the red pixels ((row + column) even), then the black ones, each from the current values
    of its neighbours: the pixel's own 2x2 solution (u*, v*), then ``u += omega (u* - u)``, and the same for v.

    Parameters
    ----------
    ex, ey, et : ndarray, shape (H, W)
    alpha, omega : float
    n_sweeps : int

    Returns
    -------
    u, v : ndarray, shape (H, W)
    """
    ex, ey, et = (np.asarray(a, dtype=float) for a in (ex, ey, et))
    h, w = ex.shape
    n = _neighbour_sum(np.ones((h, w)))
    den = alpha ** 2 * n + ex * ex + ey * ey
    yy, xx = np.mgrid[0:h, 0:w]
    red = (yy + xx) % 2 == 0
    u = np.zeros((h, w))
    v = np.zeros((h, w))
    for _ in range(n_sweeps):
        for colour in (red, ~red):
            ub, vb = _neighbour_sum(u) / n, _neighbour_sum(v) / n
            common = (ex * ub + ey * vb + et) / den
            u[colour] += omega * (ub - ex * common - u)[colour]
            v[colour] += omega * (vb - ey * common - v)[colour]
    return u, v


def _exact(ex, ey, et, alpha):
    """The minimiser of the discrete energy, by a sparse direct solve (what SOR converges to)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    h, w = ex.shape
    path = lambda m: sp.diags([np.r_[1, 2 * np.ones(m - 2), 1], -np.ones(m - 1), -np.ones(m - 1)], [0, -1, 1])
    lap = alpha ** 2 * (sp.kron(sp.eye(h), path(w)) + sp.kron(path(h), sp.eye(w)))
    cross = sp.diags((ex * ey).ravel())
    a = sp.bmat([[sp.diags((ex * ex).ravel()) + lap, cross], [cross, sp.diags((ey * ey).ravel()) + lap]]).tocsc()
    x = spla.spsolve(a, -np.r_[(ex * et).ravel(), (ey * et).ravel()])
    return x[:h * w].reshape(h, w), x[h * w:].reshape(h, w)


def _sor_cases():
    rng = np.random.default_rng(41)            # held-out problems, drawn here
    small = tuple(rng.standard_normal((3, 6, 7)))
    other = tuple(rng.standard_normal((3, 5, 8)))
    strip = tuple(rng.standard_normal((3, 1, 6)))
    big = tuple(rng.standard_normal((3, 9, 11)) * np.array([3.0, 3.0, 1.0])[:, None, None])
    flat = tuple(np.zeros((3, 5, 5)))
    return [Case("one sweep from zero, omega 1 (Gauss-Seidel), 6x7", (*small, 1.0), {"omega": 1.0, "n_sweeps": 1}),
            Case("one sweep, omega 1.5, 5x8", (*other, 2.0), {"omega": 1.5, "n_sweeps": 1}),
            Case("two sweeps on a 1x6 strip (pixels with one or two neighbours)", (*strip, 1.0),
                 {"omega": 1.2, "n_sweeps": 2}),
            Case("300 sweeps at omega 1.9 on a 9x11 problem: the exact minimiser", (*big, 1.5),
                 {"omega": 1.9, "n_sweeps": 300}),
            Case("no texture (zero derivatives)", (*flat, 1.0), {"omega": 1.9, "n_sweeps": 5})]


def _jacobi_like(ex, ey, et, alpha, omega, n_sweeps):
    """The usual wrong answer: both colours from the previous sweep's values."""
    ex, ey, et = (np.asarray(a, dtype=float) for a in (ex, ey, et))
    n = _neighbour_sum(np.ones(ex.shape))
    u = np.zeros(ex.shape)
    v = np.zeros(ex.shape)
    for _ in range(n_sweeps):
        ub, vb = _neighbour_sum(u) / n, _neighbour_sum(v) / n
        common = (ex * ub + ey * vb + et) / (alpha ** 2 * n + ex * ex + ey * ey)
        u, v = u + omega * (ub - ex * common - u), v + omega * (vb - ey * common - v)
    return u, v


def _sor_compare(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return the pair (u, v)"
    got = [np.asarray(g, dtype=float) for g in got]
    if any(g.shape != e.shape for g, e in zip(got, expected)):
        return f"u and v should have shape {expected[0].shape}, got {got[0].shape} and {got[1].shape}"
    if case.kwargs["n_sweeps"] >= 100:         # judged against the sparse solve, not against the reference
        exact = _exact(*case.args)
        err = max(np.abs(g - e).max() for g, e in zip(got, exact))
        if err > 1e-6:
            return f"after {case.kwargs['n_sweeps']} sweeps your flow is {err:.2e} from the exact minimiser"
        return None
    if all(np.allclose(g, e, rtol=1e-7, atol=1e-10) for g, e in zip(got, expected)):
        return None
    jacobi = _jacobi_like(*case.args, **case.kwargs)
    if all(np.allclose(g, j, rtol=1e-7, atol=1e-10) for g, j in zip(got, jacobi)):
        return ("your sweep gives what a Jacobi sweep gives: every pixel was computed from the previous "
                "sweep's values, the black ones too")
    diff = max(np.abs(g - e).max() for g, e in zip(got, expected))
    at = np.unravel_index(np.argmax(np.abs(got[0] - expected[0]) + np.abs(got[1] - expected[1])), expected[0].shape)
    return (f"largest difference {diff:.3g}, at pixel {tuple(int(i) for i in at)} (a "
            f"{'red' if sum(at) % 2 == 0 else 'black'} pixel): expected (u, v) = "
            f"({expected[0][at]:.6f}, {expected[1][at]:.6f}), got ({got[0][at]:.6f}, {got[1][at]:.6f})")


register(Exercise("horn_schunck.red_black_sor", _sor_cases, red_black_sor, compare=_sor_compare,
                  advice={"one sweep from zero, omega 1 (Gauss-Seidel), 6x7":
                          "red pixels ((row + column) even, so (0, 0) is red) first, all at once; then the "
                          "black ones, from the red values just computed. Each pixel solves its own 2x2 system "
                          "with its neighbours held fixed.",
                          "one sweep, omega 1.5, 5x8": "over-relaxation moves each pixel omega times as far as "
                                                       "Gauss-Seidel would, from where it was.",
                          "two sweeps on a 1x6 strip (pixels with one or two neighbours)":
                          "a pixel at the border has fewer neighbours: count only those inside the image, in "
                          "the neighbours' mean and in the weight of the smoothness term.",
                          "300 sweeps at omega 1.9 on a 9x11 problem: the exact minimiser":
                          "each sweep must move towards the minimiser of this energy: check the pixel's own 2x2 "
                          "system (a multiple of the identity plus a rank-one matrix) and its right-hand side.",
                          "no texture (zero derivatives)": "nothing to fit: the flow must stay zero (and finite)."}))


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
