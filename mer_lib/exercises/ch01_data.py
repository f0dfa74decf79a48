"""Exercises of chapter 1, micro-expressions and the data (book/01_microexpressions_and_data.md)."""

import numpy as np

from mer_lib.data.loaders import MEGC2019_MAPPING
from mer_lib.data.prepare import eye_alignment, resample_positions
from mer_lib.exercises import Case, Exercise, register


def megc_class(emotion):
    """The MEGC 2019 3-class label of an annotated emotion, or None when it is left out."""
    return MEGC2019_MAPPING.get(str(emotion).strip().lower())


register(Exercise(
    name="data.megc_class",
    cases=lambda: [Case(repr(e), (e,)) for e in
                   ("happiness", "Disgust", "repression", "surprise", "others", "contempt", " Sadness ", "fear",
                    "bewildered")],
    reference=megc_class,
    advice={"'Disgust'": "annotations are not consistent in case: compare in lower case.",
            "' Sadness '": "strip the spaces around the label too.",
            "'others'": "'others' is left out of the 3 classes: return None.",
            "'bewildered'": "an emotion you do not know must not be guessed: return None."},
))


def apex_or_midpoint(onset, apex, offset):
    """The apex frame, or the midpoint (onset + offset) // 2 when the apex is missing (None, 0 or -1)."""
    if apex is None or apex <= 0:
        return (onset + offset) // 2
    return apex


register(Exercise(
    name="data.apex_or_midpoint",
    cases=lambda: [Case("an annotated apex", (100, 105, 112)), Case("apex 0 (CAS(ME)^2)", (200, 0, 210)),
                   Case("apex None ('/' in CASME II)", (10, None, 21)), Case("apex -1 (SAMM)", (2, -1, 9))],
    reference=apex_or_midpoint,
    advice={"apex None ('/' in CASME II)": "a missing apex may arrive as None: test for it before comparing.",
            "apex 0 (CAS(ME)^2)": "integer division: (onset + offset) // 2."},
))


register(Exercise(
    name="data.resample_positions",
    cases=lambda: [Case("13 frames to 8", (13, 8)), Case("8 frames to 8", (8, 8)), Case("5 frames to 8", (5, 8)),
                   Case("40 frames to 3", (40, 3))],
    reference=resample_positions,
    advice={"8 frames to 8": "the first position is the onset (0) and the last is the offset (n - 1)."},
))


def eye_similarity(left_eye, right_eye, size=64):
    """The 2 x 3 similarity transform (rotation, uniform scale, translation) that puts the two eyes at
    ``mer_lib.data.prepare.ALIGNED_EYES`` of a ``size`` x ``size`` frame."""
    return eye_alignment(np.array([left_eye, right_eye], float), size)


register(Exercise(
    name="data.eye_similarity",
    cases=lambda: [Case("level eyes, already in place", ((23.2, 24.0), (40.8, 24.0))),
                   Case("level eyes, twice too far apart", ((10.0, 30.0), (45.2, 30.0))),
                   Case("a tilted face", ((30.0, 50.0), (70.0, 40.0))),
                   Case("a tilted face, 128 x 128", ((100.0, 80.0), (160.0, 95.0)), {"size": 128}),
                   Case("eyes given as integers", ((120, 200), (180, 200)))],
    reference=eye_similarity,
    atol=1e-6,
    advice={"level eyes, twice too far apart": "the scale is the target eye distance over the given one.",
            "a tilted face": "rotate by minus the angle of the line from the left to the right eye; with "
                             "complex numbers z' = a z + b, a = (t_r - t_l) / (e_r - e_l).",
            "a tilted face, 128 x 128": "the targets are fractions of the frame: multiply ALIGNED_EYES by size.",
            "eyes given as integers": "work in floats."},
))
