"""One call from a dataset's name to prepared clips: what ``mer`` and a notebook both use.

:func:`load_dataset` turns a name of :data:`DATASETS` (and, for the licensed
databases, the folder of a copy) into prepared clips with their labels,
subjects and apex frames; :func:`mer_lib.pipeline.network_inputs` then makes the
network inputs from them.
"""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass

import numpy as np

__all__ = ["DATASETS", "Dataset", "load_dataset", "apex_index"]

#: Dataset names, as :func:`load_dataset` and the ``mer`` command accept them, with what each is.
DATASETS = {"synth": "SynthME, the course's synthetic dataset (no licence needed)",
            "casme2": "CAS(ME)^2 (the paper's database)",
            "casme-ii": "CASME II",
            "megc2019": "the MEGC 2019 composite (root holds SMIC/, CASME2/ and SAMM/)"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Prepared clips of a dataset, ready for :func:`mer_lib.pipeline.network_inputs`.

    Unpacking gives the five arrays, ``clips, labels, subjects, apex,
    class_names = dataset``, as the named tuple of earlier versions did; the
    loader's report is an attribute.

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
    report : LoadReport or None
        What the loader kept, left out (and why), repaired and which workbook
        it read (for SynthME, the clips generated); ``print(dataset.report)``,
        ``dataset.report.to_dict()`` for a JSON file.
    """

    clips: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    apex: np.ndarray
    class_names: list
    report: object = None

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
    ValueError
        An apex outside [onset, offset], or fewer than 2 frames.

    Examples
    --------
    >>> apex_index(100, 110, 120, 8)      # half-way: between frames 3 and 4, rounded to even
    4
    >>> apex_index(100, 100, 120, 8)      # at the onset: the next frame
    1
    """
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2, got {n_frames}")
    if not onset <= apex <= offset:
        raise ValueError(f"apex {apex} is outside the clip (onset {onset}, offset {offset})")
    index = int(round((apex - onset) / max(offset - onset, 1) * (n_frames - 1)))
    return min(max(index, 1), n_frames - 1)


def load_dataset(name, root=None, *, fast=False, cache_dir=None, seed=0, n_frames=8, size=128, progress=True):
    """Prepared clips, labels, subjects and apex indices of a dataset, by name.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    root : str or Path, optional
        The folder of a licensed copy (required for every dataset but
        ``"synth"``); for ``"megc2019"`` it holds ``SMIC/``, ``CASME2/`` and
        ``SAMM/``.
    fast : bool, default False
        ``"synth"`` only: a smoke-test size, 10 clips of 64 x 64 from 4 subjects.
    cache_dir : str or Path, optional
        Cache of the prepared clips of a licensed database
        (:func:`mer_lib.data.prepare_clips`).
    seed : int, default 0
        Seed of SynthME.
    n_frames, size : int, default 8 and 128
        Frames per clip and their side, for the licensed databases (SynthME
        has its own).
    progress : bool, default True

    Returns
    -------
    Dataset
        ``clips, labels, subjects, apex, class_names`` (unpacked in this
        order) and ``report``, the loader's (for ``"megc2019"``, its
        databases' reports as a list).

    Raises
    ------
    ValueError
        An unknown ``name``, or no ``root`` for a licensed database.
    DatasetLayoutError
        A root that is not in the official layout, or an annotation from which
        no clip is selected.

    Examples
    --------
    >>> data = load_dataset("synth", fast=True, progress=False)
    >>> data.clips.shape, len(data.labels), data.class_names
    ((10, 8, 64, 64), 10, ['negative', 'positive', 'surprise'])
    """
    from mer_lib.data import loaders
    from mer_lib.data.prepare import prepare_clips
    from mer_lib.data.synthetic import CLASS_NAMES, synthetic_dataset

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    if name == "synth":
        if fast:
            ds = synthetic_dataset(seed=seed, counts=(4, 4, 2), n_subjects=4, size=64)
        else:
            ds = synthetic_dataset(seed=seed, progress=progress)
        return Dataset(ds.frames, np.asarray(ds.labels), np.asarray(ds.subjects), np.asarray(ds.apex),
                       list(ds.class_names), loaders.LoadReport("SynthME", kept=len(ds)))
    if root is None:
        raise ValueError(f"root is required for the dataset {name!r} (the folder of your licensed copy)")
    if name == "casme2":
        records, reports = loaders.load_casme2(root, report=True)
    elif name == "casme-ii":
        records, reports = loaders.load_casme_ii(root, report=True)
    else:
        base = Path(root)
        records, reports = loaders.load_megc2019({"smic": base / "SMIC", "casme_ii": base / "CASME2",
                                                  "samm": base / "SAMM"}, report=True)
    reports = list(reports) if isinstance(reports, list) else [reports]
    if not records:
        why = "; ".join(f"{rep.database}: {len(rep.left_out)} rows left out ("
                        + ", ".join(f"{reason}: {n}" for reason, n in sorted(rep.reasons().items())) + ")"
                        for rep in reports if rep.left_out)
        raise loaders.DatasetLayoutError(f"no clips selected from {name} under {root}: check the layout and the "
                                         f"annotation" + (f" ({why})" if why else ""))
    clips = prepare_clips(records, n_frames=n_frames, size=size, cache_dir=cache_dir, progress=progress)
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    subjects = np.array([r.subject for r in records])
    apex = np.array([apex_index(r.onset, r.apex, r.offset, n_frames) for r in records])
    return Dataset(clips, labels, subjects, apex, list(CLASS_NAMES), reports[0] if len(reports) == 1 else reports)
