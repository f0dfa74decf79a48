"""Exercises of chapter 1, micro-expressions and the data (book/01_microexpressions_and_data.md)."""

import numpy as np

from mer_lib.data.loaders import CASME_II_MAPPING, MEGC2019_MAPPING
from mer_lib.data.prepare import eye_alignment, resample_clip
from mer_lib.exercises import Case, Exercise, register

#: The MEGC 2019 composite's mapping per database: CASME II keeps only disgust and repression as negative.
MEGC_MAPPINGS = {"casme_ii": CASME_II_MAPPING, "samm": MEGC2019_MAPPING, "smic": MEGC2019_MAPPING}


def megc_class(emotion, database):
    """The MEGC 2019 3-class label of an emotion annotated in ``database``, or None when it is left out."""
    return MEGC_MAPPINGS[database].get(str(emotion).strip().lower())


register(Exercise(
    name="data.megc_class",
    cases=lambda: [Case(f"{e!r} in {d}", (e, d)) for e, d in
                   (("happiness", "samm"), ("Disgust", "casme_ii"), ("repression", "casme_ii"),
                    ("surprise", "smic"), ("fear", "samm"), ("fear", "casme_ii"), (" Sadness ", "samm"),
                    ("sadness", "casme_ii"), ("others", "casme_ii"), ("contempt", "samm"),
                    ("negative", "smic"), ("bewildered", "samm"))],
    reference=megc_class,
    advice={"'Disgust' in casme_ii": "annotations are not consistent in case.",
            "' Sadness ' in samm": "look at the characters around the word.",
            "'fear' in casme_ii": "the composite does not use one rule for every database: read the chapter's "
                                  "rule for CASME II again.",
            "'sadness' in casme_ii": "which negative emotions does the composite keep from CASME II?",
            "'others' in casme_ii": "'others' is not one of the 3 classes.",
            "'negative' in smic": "SMIC is annotated with the 3 classes themselves.",
            "'bewildered' in samm": "an emotion you do not know must not be guessed."},
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
            "apex 0 (CAS(ME)^2)": "the midpoint must be a frame index, an int, when onset + offset is odd too."},
))


def tim_resample(clip, n_frames):
    """The temporal interpolation model (Zhou et al. 2011): ``clip`` (T, H, W) resampled to ``n_frames``
    evenly spaced instants from onset (0) to offset (T - 1), each pixel following the curve spanned by the
    path graph's Laplacian eigenvectors (``mer_lib.data.resample_clip(..., "tim")``)."""
    return resample_clip(np.asarray(clip, np.float32), n_frames, "tim").astype(np.float64)


def _tim_cases():
    rng = np.random.default_rng(21)         # held-out clips, drawn here: not the chapter's
    return [Case("4 frames to 7 (a random 3x5 clip)", (rng.random((4, 3, 5)), 7)),
            Case("13 frames to 8", (rng.random((13, 2, 3)), 8)),
            Case("as many frames out as in (6 to 6)", (rng.random((6, 2, 2)), 6)),
            Case("a clip that does not change in time", (np.full((5, 2, 3), 0.25), 9)),
            Case("2 frames to 5", (rng.random((2, 3, 3)), 5)),
            Case("a single frame to 3", (rng.random((1, 2, 2)), 3))]


register(Exercise(
    name="data.tim_resample",
    cases=_tim_cases,
    reference=tim_resample,
    rtol=1e-4, atol=1e-5,
    advice={"as many frames out as in (6 to 6)": "the model's curve passes through every frame: evaluated at "
                                                 "the frames' own instants it must give the clip back.",
            "4 frames to 7 (a random 3x5 clip)": "between the frames you need the eigenvectors as functions of a "
                                                 "continuous t, not only their values at the frames: print them "
                                                 "and find the functions they sample.",
            "a clip that does not change in time": "a constant in time lies along the eigenvector of eigenvalue "
                                                   "0: your curve should stay at the constant.",
            "13 frames to 8": "the new instants run evenly from the onset (0) to the offset (T - 1).",
            "a single frame to 3": "a path graph of one node has one eigenvector, a constant: nothing to divide "
                                   "by."},
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
    advice={"level eyes, twice too far apart": "apply your M to both eyes: how far apart do they land, "
                                               "against the targets?",
            "a tilted face": "the line between the eyes is not horizontal here: apply your M to each eye and "
                             "compare with its target; the rotation and the scale come from the same pair.",
            "a tilted face, 128 x 128": "where are the target eyes of a 128 x 128 frame?",
            "eyes given as integers": "look at the type your arithmetic runs in."},
))
