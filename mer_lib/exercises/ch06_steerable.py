"""Exercises of chapter 6, the complex steerable pyramid (book/06_steerable_pyramid.md)."""

from math import factorial

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.magnify.steerable import _cutoff


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
                                                                            "filters' values at its frequency; "
                                                                            "at log_r = boundary the cut-off is "
                                                                            "halfway through its transition."}))


def _angular_norm(k):
    """a_K, so that the squares of the K real angular filters a_K cos^(K-1)(theta - pi j / K) sum to one."""
    return 2 ** (k - 1) * factorial(k - 1) / np.sqrt(k * factorial(2 * (k - 1)))


def oriented_bands(image, n_orientations, boundary, width):
    """One scale of the complex steerable pyramid: K complex bands of the high part of a radial split.

    image (H, W) real -> (K, H, W) complex. Band j is the inverse FFT of the image's spectrum times
    sqrt(1 - L^2) (L: the raised-cosine cut-off at ``boundary``, ``width`` octaves) times
    2 a_K cos^(K-1)(theta - theta_j) where |theta - theta_j| < pi/2 (wrapped) and 0 elsewhere, with
    theta = atan2(omega_y, omega_x), omega_y along rows, theta_j = pi j / K.
    """
    image = np.asarray(image, float)
    k = int(n_orientations)
    wy = 2 * np.pi * np.fft.fftfreq(image.shape[0])[:, None]
    wx = 2 * np.pi * np.fft.fftfreq(image.shape[1])[None, :]
    with np.errstate(divide="ignore"):
        log_r = np.log2(np.hypot(wy, wx))
    radial = np.sqrt(1.0 - _cutoff(log_r, boundary, width) ** 2)
    theta = np.arctan2(np.broadcast_to(wy, radial.shape), np.broadcast_to(wx, radial.shape))
    spectrum = np.fft.fft2(image)
    bands = []
    for j in range(k):
        diff = np.angle(np.exp(1j * (theta - np.pi * j / k)))
        angular = np.where(np.abs(diff) < np.pi / 2, 2 * _angular_norm(k) * np.cos(diff) ** (k - 1), 0.0)
        bands.append(np.fft.ifft2(spectrum * radial * angular))
    return np.stack(bands)


def _bands_cases():
    rng = np.random.default_rng(62)
    y, x = np.mgrid[:15, :17]
    across = np.cos(2 * np.pi * x / 4)            # varies along x: frequency angle 0
    return [Case("a constant image (no band-pass content), K = 4", (np.full((9, 11), 0.4), 4, 0.0, 1.0)),
            Case("a cosine varying along x, K = 2", (across, 2, 0.0, 1.0)),
            Case("random 13x11 pixels, K = 4", (rng.random((13, 11)), 4, np.log2(np.pi) - 1, 1.0)),
            Case("random 9x15 pixels, K = 3 (an even power of cos)", (rng.random((9, 15)), 3, 0.5, 0.5)),
            Case("random 11x11 pixels, K = 6", (rng.random((11, 11)), 6, 0.0, 1.0))]


register(Exercise("steerable.oriented_bands", _bands_cases, oriented_bands, rtol=1e-6, atol=1e-9,
                  advice={"a constant image (no band-pass content), K = 4": "a constant image is frequency 0 "
                                                                             "alone: the high part of the split "
                                                                             "keeps nothing of it.",
                          "a cosine varying along x, K = 2": "this cosine's frequencies lie at angles 0 and pi: "
                                                             "only orientation 0 keeps one of them, doubled, so "
                                                             "its band is complex with a constant amplitude. "
                                                             "Return (K, H, W), orientation j at pi j / K.",
                          "random 13x11 pixels, K = 4": "check a_K: the squares of the K real filters "
                                                        "a_K cos^(K-1)(theta - theta_j) must sum to one at "
                                                        "every angle; and the half-plane: is the angle "
                                                        "difference wrapped to (-pi, pi]?",
                          "random 9x15 pixels, K = 3 (an even power of cos)": "for an odd K the power of the "
                                                                              "cosine is even: the half-plane "
                                                                              "cut, not the sign of the "
                                                                              "cosine, must decide.",
                          "random 11x11 pixels, K = 6": "rows are omega_y, columns omega_x: theta = "
                                                        "atan2(omega_y, omega_x)."}))
