"""Exercises of chapter 7, phase-based magnification (book/07_phase_based_magnification.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def wrapped_phase_difference(band, reference):
    """Phase of band relative to reference, wrapped to (-pi, pi]: angle(band * conj(reference))."""
    return np.angle(np.asarray(band) * np.conj(np.asarray(reference)))


def _wrapped_cases():
    rng = np.random.default_rng(12)
    a = rng.standard_normal((4, 5)) + 1j * rng.standard_normal((4, 5))
    b = rng.standard_normal((4, 5)) + 1j * rng.standard_normal((4, 5))
    return [Case("a small phase advance", (np.exp(1j * 0.3), np.exp(1j * 0.1))),
            Case("across the wrap (phases 3.0 and -3.0)", (np.exp(1j * 3.0), np.exp(-1j * 3.0))),
            Case("random complex 4x5 bands", (a, b))]


register(Exercise("phase.wrapped_phase_difference", _wrapped_cases, wrapped_phase_difference,
                  advice={"across the wrap (phases 3.0 and -3.0)": "subtracting angles gives 6.0; the difference "
                                                                  "must be wrapped: use angle(a * conj(b))."}))


def phase_max_alpha(delta, wavelength):
    """Largest alpha before the magnified phase wraps: (1 + alpha) delta = wavelength / 2."""
    return wavelength / (2.0 * delta) - 1.0


register(Exercise("phase.max_alpha",
                  lambda: [Case("delta 0.1 px, wavelength 16", (0.1, 16.0)),
                           Case("delta 0.5 px, wavelength 8", (0.5, 8.0))],
                  phase_max_alpha,
                  advice={"delta 0.1 px, wavelength 16": "the phase wraps at half a wavelength: lambda / 2, "
                                                         "four times the linear method's lambda / 8."}))


def shift_band(band, dphi, alpha):
    """Multiply each coefficient's phase change by (1 + alpha): band * exp(i alpha dphi)."""
    return np.asarray(band) * np.exp(1j * alpha * np.asarray(dphi, float))


def _shift_cases():
    rng = np.random.default_rng(13)
    band = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    return [Case("one coefficient, alpha = 10", (np.array([1.0 + 0j]), np.array([0.05]), 10.0)),
            Case("a 3x4 band, alpha = 20", (band, rng.uniform(-0.1, 0.1, (3, 4)), 20.0)),
            Case("alpha = -1 (motion removed)", (band, rng.uniform(-0.1, 0.1, (3, 4)), -1.0))]


register(Exercise("phase.shift_band", _shift_cases, shift_band,
                  advice={"one coefficient, alpha = 10": "rotate the coefficient by alpha times its phase change; "
                                                         "the change itself is already in it."}))
