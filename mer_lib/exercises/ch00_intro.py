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
        "8-bit frames (uint8)": "uint8 arithmetic wraps around: work out 10 - 20 in uint8, then "
                                "decide in which type to subtract.",
        "a still clip (5 frames of 6x7)": "one value per pair of consecutive frames: T frames give T - 1 values.",
    },
))


def apex_frame(clip):
    """The apex of a clip: the frame that differs most from the onset (frame 0).

    Parameters
    ----------
    clip : array_like, shape (T, H, W)

    Returns
    -------
    int
        The index of the frame of largest mean absolute difference from frame 0
        (the first such frame on a tie; 0 for a still clip).
    """
    clip = np.asarray(clip, dtype=np.float64)
    return int(np.argmax(np.abs(clip - clip[0]).mean(axis=(1, 2))))


def _apex_cases():
    rng = np.random.default_rng(1)
    base = rng.random((12, 10))
    profile = np.array([0, 0.2, 0.6, 1.0, 0.7, 0.3, 0.1])           # onset, apex at 3, offset
    rise_fall = np.stack([base + 0.1 * p * np.sign(base - 0.5) for p in profile])
    late = np.stack([base + 0.05 * t for t in range(5)])              # still rising at the last frame
    dark = np.full((5, 4, 4), 200, dtype=np.uint8)
    for t, value in enumerate((200, 150, 100, 20, 120)):              # 200 -> 20 is the largest change
        dark[t, :2] = value
    stripes = np.tile([0.0, 1, 2, 3, 4, 3, 2, 1], 3)[None, :] * np.ones((6, 1))   # integers: exact sums
    shifted = np.stack([np.roll(stripes, s, axis=1) for s in (0, 1, 2, 1, 0)])  # moves right, comes back
    return [Case("a clip that rises and falls back (7 frames)", (rise_fall,)),
            Case("a clip still rising at its last frame", (late,)),
            Case("a pattern that moves 2 px and comes back", (shifted,)),
            Case("8-bit frames that darken (uint8)", (dark,)),
            Case("a still clip", (np.full((4, 3, 3), 0.5),))]


register(Exercise(
    name="intro.apex_frame",
    cases=_apex_cases,
    reference=apex_frame,
    advice={
        "a clip that rises and falls back (7 frames)": "compare every frame with the onset (frame 0), not with "
                                                       "its neighbour: the apex is where the face is furthest "
                                                       "from neutral, not where it changes fastest.",
        "8-bit frames that darken (uint8)": "look at what 20 - 200 gives in uint8.",
        "a pattern that moves 2 px and comes back": "a brightness change can be positive or negative: how do "
                                                    "you keep them from cancelling out in the mean?",
        "a still clip": "nothing moves: the answer is the onset itself, an int.",
    },
))
