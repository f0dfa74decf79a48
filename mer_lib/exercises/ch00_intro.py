"""Exercises of the introduction (book/00_intro.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def motion_energy(clip):
    """Mean absolute difference between consecutive frames.

    Parameters
    ----------
    clip : array_like, shape (T, H, W)

    Returns
    -------
    ndarray, shape (T - 1,)
    """
    clip = np.asarray(clip, dtype=np.float64)
    return np.abs(np.diff(clip, axis=0)).mean(axis=(1, 2))


def _cases():
    rng = np.random.default_rng(0)
    still = np.full((5, 6, 7), 0.4)
    ramp = np.linspace(0, 1, 4)[:, None, None] * np.ones((4, 3, 5))
    noisy = rng.random((6, 8, 9))
    bytes_ = np.array([[[10, 200], [30, 40]], [[20, 100], [30, 45]], [[0, 255], [5, 40]]], dtype=np.uint8)
    return [Case("a still clip (5 frames of 6x7)", (still,)),
            Case("a clip that brightens evenly", (ramp,)),
            Case("random frames (6x8x9)", (noisy,)),
            Case("8-bit frames (uint8)", (bytes_,))]


register(Exercise(
    name="intro.motion_energy",
    cases=_cases,
    reference=motion_energy,
    advice={
        "8-bit frames (uint8)": "uint8 arithmetic wraps around (10 - 20 = 246): convert to float first.",
        "a still clip (5 frames of 6x7)": "one value per pair of consecutive frames: T frames give T - 1 values.",
    },
))
