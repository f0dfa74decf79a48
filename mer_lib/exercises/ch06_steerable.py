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
                  advice={"across an octave-wide transition": "at log_r = boundary the cut-off is halfway through its "
                                                              "transition: check your value there, and where "
                                                              "the transition starts and ends."}))


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
                  advice={"K = 4, around the circle": "some of these angles are more than pi away from "
                                                     "theta_j: is their difference the angle between them?"}))


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
                          "steer the filter first: at theta = 30 deg, are your K weights "
                          "the ones that rebuild cos^(K-1)(phi - theta) from the K basis filters? Check them "
                          "on a few phi before applying them to the responses.",
                          "K = 3 (an even power of cos), theta = -0.7 rad":
                          "for odd K the cosine power has a constant term: how many times do "
                          "your weights count it?",
                          "theta on a basis angle (45 deg, K = 4)": "at a basis angle the weights pick that "
                                                                   "response alone."}))


def radial_split(image, boundary, width):
    """One level of the pyramid's radial split: (low, high) = the image filtered by L and by sqrt(1 - L^2).

    L is the raised-cosine cut-off on log2 of the radial frequency r (radians per pixel), at ``boundary``
    with a transition ``width`` octaves wide; the squares of the two filters sum to one.
    """
    image = np.asarray(image, float)
    wy = 2 * np.pi * np.fft.fftfreq(image.shape[0])[:, None]
    wx = 2 * np.pi * np.fft.fftfreq(image.shape[1])[None, :]
    with np.errstate(divide="ignore"):
        log_r = np.log2(np.hypot(wy, wx))
    low_filter = _cutoff(log_r, boundary, width)
    high_filter = np.sqrt(1.0 - low_filter ** 2)
    spectrum = np.fft.fft2(image)
    return np.real(np.fft.ifft2(spectrum * low_filter)), np.real(np.fft.ifft2(spectrum * high_filter))


def _split_cases():
    rng = np.random.default_rng(61)
    y, x = np.mgrid[:16, :16]
    checker = (-1.0) ** (x + y)
    slow = np.cos(2 * np.pi * x / 16)                 # 0.39 rad/pixel, log2 = -1.35
    return [Case("a constant image (all low-pass)", (np.full((8, 8), 0.7), 0.0, 1.0)),
            Case("a checkerboard (all high-pass)", (checker, 0.0, 1.0)),
            Case("a slow horizontal cosine plus a checkerboard", (slow + checker, 0.0, 1.0)),
            Case("random 12x10 pixels, an octave-wide transition at log2(pi) - 1",
                 (rng.random((12, 10)), np.log2(np.pi) - 1, 1.0)),
            Case("a slow cosine right in a half-octave transition", (slow, -1.35, 0.5))]


register(Exercise("steerable.radial_split", _split_cases, radial_split, rtol=1e-6, atol=1e-9,
                  advice={"a constant image (all low-pass)": "a constant image is frequency 0 only: what is log2 of "
                                                             "0, and what does your cut-off give there?",
                          "a checkerboard (all high-pass)": "a checkerboard alternates every pixel: which radial "
                                                            "frequency is that, in radians per pixel?",
                          "a slow horizontal cosine plus a checkerboard": "return (low, high) in that order, each "
                                                                          "a real image of the input's shape.",
                          "random 12x10 pixels, an octave-wide transition at log2(pi) - 1":
                              "rows and columns have their own frequency axes; check that your high-pass and "
                              "low-pass add up, squared, to one at every frequency.",
                          "a slow cosine right in a half-octave transition": "inside the transition both outputs "
                                                                            "carry part of the cosine: check the "
                                                                            "filters' values at its frequency."}))
