"""One call from a dataset's name to prepared clips: what ``mer`` and a notebook both use.

:func:`load_dataset` turns a name of :data:`DATASETS` (and, for the licensed
databases, the folder of a copy) into prepared clips with their labels,
subjects and apex frames, and the loader's report of what it kept, left out,
repaired and read; :func:`mer_lib.pipeline.network_inputs` then makes the
network inputs from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_lib.data.records import LoadReport
from mer_lib.errors import UserInputError

__all__ = ["DATASETS", "Dataset", "load_dataset", "apex_index", "FAST_CLIPS"]

#: Dataset names, as :func:`load_dataset` and the ``mer`` command accept them, with what each is.
DATASETS = {"synth": "SynthME, the course's synthetic dataset (no licence needed)",
            "casme2": "CAS(ME)^2 (the paper's database)",
            "casme-ii": "CASME II",
            "megc2019": "the MEGC 2019 composite (root holds SMIC/, CASME2/ and SAMM/)"}

#: Clips a smoke-test run (``fast=True``) keeps of a licensed database.
FAST_CLIPS = 10


@dataclass(frozen=True, eq=False)
class Dataset:
    """Prepared clips of a dataset, ready for :func:`mer_lib.pipeline.network_inputs`.

    The same idea as :class:`mer_lib.data.SynthME` (whose ``clips`` are its
    ``frames``): :func:`mer_lib.pipeline.preprocess` takes either.
    Unpacking gives the five arrays, ``clips, labels, subjects, apex,
    class_names = dataset``, as the named tuple of earlier versions did; the
    report is an attribute.

    Attributes
    ----------
    clips : ndarray, shape (N, T, H, W), float32 in [0, 1]
        Onset first, offset last.
    labels : ndarray of int, shape (N,)
        Indices into ``class_names``.
    subjects : ndarray, shape (N,)
    apex : ndarray of int, shape (N,)
        Index of each clip's apex frame, in 1 .. T - 1.
    class_names : list of str
    report : LoadReport
        What the loader kept, left out (and why), repaired, which workbook it
        read and which files it did not read; for SynthME, the clips
        generated. ``print(dataset.report)`` shows its summary,
        ``dataset.report.details()`` every entry, ``dataset.report.to_dict()``
        the same as plain data (for a JSON file).
    """

    clips: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    apex: np.ndarray
    class_names: list
    report: LoadReport | None = None

    def __iter__(self):
        return iter((self.clips, self.labels, self.subjects, self.apex, self.class_names))

    def __len__(self) -> int:
        return len(self.labels)


def apex_index(onset, apex, offset, n_frames):
    """Index of the apex among ``n_frames`` frames resampled evenly from onset to offset.

    The nearest resampled frame (:func:`mer_lib.data.resample_positions`),
    at least 1: an apex annotated at the onset would make the pipeline's apex
    flow pair (onset, apex) empty, so it moves to the next frame.

    Parameters
    ----------
    onset, apex, offset : int
        Frame numbers of the database, ``onset <= apex <= offset``.
    n_frames : int, at least 2

    Returns
    -------
    int, in 1 .. n_frames - 1

    Raises
    ------
    UserInputError
        An apex outside [onset, offset], or fewer than 2 frames.

    Examples
    --------
    >>> apex_index(100, 110, 120, 8)      # half-way: between frames 3 and 4, rounded to even
    4
    >>> apex_index(100, 100, 120, 8)      # at the onset: the next frame
    1
    """
    if n_frames < 2:
        raise UserInputError(f"n_frames must be at least 2, got {n_frames}")
    if not onset <= apex <= offset:
        raise UserInputError(f"apex {apex} is outside the clip (onset {onset}, offset {offset})")
    index = int(round((apex - onset) / max(offset - onset, 1) * (n_frames - 1)))
    return min(max(index, 1), n_frames - 1)


def load_dataset(name, root=None, *, fast=False, cache_dir=None, seed=0, n_frames=None, size=None,
                 resample_short=False, progress=True):
    """Prepared clips, labels, subjects and apex indices of a dataset, by name, with the loader's report.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    root : str or Path, optional
        The folder of a licensed copy (required for every dataset but
        ``"synth"``); for ``"megc2019"`` it holds ``SMIC/``, ``CASME2/`` and
        ``SAMM/``.
    fast : bool, default False
        A smoke-test size. ``"synth"``: 10 clips of 64 x 64 from 4 subjects.
        A licensed database: the first :data:`FAST_CLIPS` usable clips, taken
        class by class in turn (the report lists the others as left out, "not
        in the fast subset"); a check that the pipeline runs on your copy,
        not a result.
    cache_dir : str or Path, optional
        Cache of the prepared clips of a licensed database
        (:func:`mer_lib.data.prepare_clips`); SynthME is generated, not cached.
    seed : int, default 0
        Seed of SynthME (a licensed database is read, not drawn: no seed).
    n_frames : int, optional
        Frames per clip: 8 by default (the paper's network takes 8).
    size : int, optional
        Side of the prepared frames: 128 by default, 64 for ``"synth"`` with
        ``fast``.
    resample_short : bool, default False
        A licensed clip with fewer than ``n_frames`` frames from onset to
        offset is left out with its reason in the report; True keeps it (if
        it has at least 2 frames) and brings it to ``n_frames`` by resampling
        (:func:`mer_lib.data.resample_clip`), so some of its frames are
        blends of others.
    progress : bool, default True

    Returns
    -------
    Dataset
        ``clips`` (N, n_frames, size, size), ``labels``, ``subjects``,
        ``apex``, ``class_names`` and ``report`` (a
        :class:`~mer_lib.data.LoadReport`; for MEGC 2019, one whose
        ``parts`` are the three databases' reports).

    Raises
    ------
    UserInputError
        An unknown ``name``, no ``root`` for a licensed database, or an
        ``n_frames`` or ``size`` that is not a positive integer (SynthME
        needs ``n_frames >= 3`` and ``size >= 32``).
    DatasetLayoutError
        A root that is not in the official layout, an annotation workbook
        that cannot be read, or an annotation from which no clip is selected.

    Warns
    -----
    UserWarning
        Clips cropped to their centre because no face was found on their
        onset frame (also in the report's notes).

    Examples
    --------
    >>> data = load_dataset("synth", fast=True, progress=False)
    >>> data.clips.shape, len(data.labels), data.class_names
    ((10, 8, 64, 64), 10, ['negative', 'positive', 'surprise'])
    >>> print(data.report)
    SynthME: kept 10 clips, left out 0, repaired 0, ignored 0 files
    >>> load_dataset("synth", n_frames=16, size=32, fast=True, progress=False).clips.shape
    (10, 16, 32, 32)
    """
    from mer_lib.data import loaders
    from mer_lib.data.prepare import prepare_clips
    from mer_lib.data.synthetic import CLASS_NAMES, synthetic_dataset

    if name not in DATASETS:
        raise UserInputError(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    n_frames = 8 if n_frames is None else n_frames
    size = (64 if fast and name == "synth" else 128) if size is None else size
    for what, value in (("n_frames", n_frames), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{what} must be a positive integer, got {value!r}")
    if name == "synth":
        if fast:
            ds = synthetic_dataset(seed=seed, counts=(4, 4, 2), n_subjects=4, size=size, n_frames=n_frames)
        else:
            ds = synthetic_dataset(seed=seed, size=size, n_frames=n_frames, progress=progress)
        report = LoadReport("SynthME", kept=len(ds))
        return Dataset(ds.frames, np.asarray(ds.labels), np.asarray(ds.subjects), np.asarray(ds.apex),
                       list(ds.class_names), report)
    if root is None:
        raise UserInputError(f"root is required for the dataset {name!r} (the folder of your licensed copy)")
    min_frames = 2 if resample_short else n_frames
    if name == "casme2":
        records, report = loaders.load_casme2(root, min_frames=min_frames, report=True)
    elif name == "casme-ii":
        records, report = loaders.load_casme_ii(root, min_frames=min_frames, report=True)
    else:
        base = Path(root)
        records, parts = loaders.load_megc2019({"smic": base / "SMIC", "casme_ii": base / "CASME2",
                                                "samm": base / "SAMM"}, min_frames=min_frames, report=True)
        report = loaders.LoadReport("MEGC 2019 composite", kept=len(records), parts=parts)
    for rep in [report] + list(report.parts):
        rep.left_out[:] = [(clip, _short_hint(reason, n_frames)) for clip, reason in rep.left_out]
    if fast:
        records = _fast_subset(records, report)
    if not records:
        raise loaders.DatasetLayoutError(f"no clips selected from {name} under {root}: check the layout and the "
                                         f"annotation ({'; '.join(str(report).splitlines())})")
    clips, infos = prepare_clips(records, n_frames=n_frames, size=size, cache_dir=cache_dir, progress=progress,
                                 return_info=True)
    report.notes += [(r.clip_id, "no face found on the onset frame: cropped to the centre square")
                     for r, info in zip(records, infos) if not info["face_found"]]
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    subjects = np.array([r.subject for r in records])
    apex = np.array([apex_index(r.onset, r.apex, r.offset, n_frames) for r in records])
    return Dataset(clips, labels, subjects, apex, list(CLASS_NAMES), report)


def _short_hint(reason, n_frames):
    """A "too short" reason, with what the network takes and how to keep such a clip."""
    if not reason.startswith("too short"):
        return reason
    return (f"{reason} (the network takes {n_frames} frames per clip; load_dataset(..., resample_short=True) "
            "resamples shorter clips)")


def _fast_subset(records, report):
    """The first FAST_CLIPS records, taken class by class in turn; the others are left out in the report."""
    by_class = {}
    for record in records:
        by_class.setdefault(record.label, []).append(record)
    chosen = []
    while len(chosen) < min(FAST_CLIPS, len(records)):
        for queue in by_class.values():
            if queue and len(chosen) < FAST_CLIPS:
                chosen.append(queue.pop(0))
    keep = {id(r) for r in chosen}
    kept = [r for r in records if id(r) in keep]
    report.left_out += [(r.clip_id, f"not in the fast subset: fast=True keeps {FAST_CLIPS} clips (a smoke test, "
                                    "not a result)") for r in records if id(r) not in keep]
    report.kept = len(kept)
    return kept
