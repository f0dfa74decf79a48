"""Exercises of chapter 6, the complex steerable pyramid (book/06_steerable_pyramid.md)."""

from math import factorial

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.magnify.steerable import _cutoff


def raised_cosine_lowpass(log_r, boundary, width):
    """1 below boundary - width/2, 0 above boundary + width/2, cos(pi/2 t) in between (t from 0 to 1)."""
    return _cutoff(np.asarray(log_r, float), boundary, width)


register(Exercise("steerable.raised_cosine_lowpass",
                  lambda: [Case("well below the boundary", (np.array([-3.0]), 0.0, 1.0)),
                           Case("well above the boundary", (np.array([3.0]), 0.0, 1.0)),
                           Case("across an octave-wide transition", (np.linspace(-1, 1, 9), 0.0, 1.0)),
                           Case("a half-octave transition at log2(pi) - 0.25",
                                (np.linspace(0, 2, 11), np.log2(np.pi) - 0.25, 0.5))],
                  raised_cosine_lowpass,
                  advice={"across an octave-wide transition": "t = clip((log_r - (boundary - width/2)) / width, 0, 1), "
                                                              "then cos(pi t / 2)."}))


def angular_weight(theta, theta_j, n_orientations):
    """The complex pyramid's angular filter: 2 a_K cos^(K-1)(theta - theta_j) where the cosine is positive, else 0.

    a_K = 2^(K-1) (K-1)! / sqrt(K (2(K-1))!), so that the real filters' squares sum to one.
    """
    k = n_orientations
    norm = 2 ** (k - 1) * factorial(k - 1) / np.sqrt(k * factorial(2 * (k - 1)))
    diff = np.angle(np.exp(1j * (np.asarray(theta, float) - theta_j)))
    return np.where(np.abs(diff) < np.pi / 2, 2 * norm * np.cos(diff) ** (k - 1), 0.0)


register(Exercise("steerable.angular_weight",
                  lambda: [Case("K = 4, along the filter's orientation", (np.array([0.0]), 0.0, 4)),
                           Case("K = 4, around the circle", (np.linspace(-np.pi, np.pi, 13)[:-1] + 0.1, np.pi / 4, 4)),
                           Case("K = 2", (np.linspace(0, 2 * np.pi, 9)[:-1] + 0.05, 0.0, 2)),
                           Case("K = 8", (np.linspace(0, 2 * np.pi, 17)[:-1] + 0.05, np.pi / 8, 8))],
                  angular_weight,
                  advice={"K = 4, around the circle": "wrap theta - theta_j into (-pi, pi] first, e.g. "
                                                     "np.angle(np.exp(1j * (theta - theta_j)))."}))


def steer(responses, theta):
    """The response to the real angular filter at ``theta``, from the K basis responses at pi j / K."""
    from mer_lib.magnify.steerable import steering_weights

    responses = np.asarray(responses, float)
    return np.tensordot(steering_weights(float(theta), responses.shape[0]), responses, axes=1)


def _steer_cases():
    rng = np.random.default_rng(16)
    return [Case("K = 4 responses of 5x6 pixels, theta = 30 deg", (rng.standard_normal((4, 5, 6)), np.pi / 6)),
            Case("theta on a basis angle (45 deg, K = 4)", (rng.standard_normal((4, 3, 3)), np.pi / 4)),
            Case("K = 2, theta = 1.0 rad", (rng.standard_normal((2, 4, 4)), 1.0)),
            Case("K = 3 (an even power of cos), theta = -0.7 rad", (rng.standard_normal((3, 4, 5)), -0.7)),
            Case("K = 8, theta = 2.5 rad", (rng.standard_normal((8, 2, 3)), 2.5))]


register(Exercise("steerable.steer", _steer_cases, steer, rtol=1e-6, atol=1e-9,
                  advice={"K = 4 responses of 5x6 pixels, theta = 30 deg":
                          "w_j = (1/K) sum over m = K-1, K-3, ... >= 0 of eps_m cos(m (theta - pi j / K)), "
                          "eps_0 = 1, else 2; then sum_j w_j responses[j].",
                          "K = 3 (an even power of cos), theta = -0.7 rad":
                          "for odd K the frequencies m run K-1, ..., 2, 0: m = 0 is counted once (eps_0 = 1).",
                          "theta on a basis angle (45 deg, K = 4)": "at a basis angle the weights pick that "
                                                                   "response alone."}))
