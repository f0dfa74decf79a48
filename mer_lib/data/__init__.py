"""Data: SynthME, the synthetic dataset, and loaders for the licensed databases.

:func:`load_dataset` goes from a dataset's name to prepared clips in one call,
with the loader's :class:`LoadReport` (what it kept, left out and why,
repaired, which workbook it read, which files it did not read).

Modules: ``datasets`` (:func:`load_dataset`), ``loaders`` (one per database),
``records`` (:class:`ClipRecord`, :class:`LoadReport`), ``annotations`` (the
workbooks' cells), ``frames`` (frame files by each database's naming
pattern), ``prepare`` (a clip record to a prepared clip), ``align`` (eye
alignment, head motion), ``faces`` (face and feature finding, the gallery of
faces) and ``synthetic`` (SynthME).

Chapter ``book/01_microexpressions_and_data.md`` explains both.
"""

from mer_lib.data.datasets import DATASETS, Dataset, apex_index, load_dataset
from mer_lib.data.frames import FRAME_PATTERNS
from mer_lib.data.loaders import load_casme2, load_casme_ii, load_megc2019, load_samm, load_smic
from mer_lib.data.prepare import (compensate_head_motion, detect_face, eye_alignment, find_eyes, prepare_clip,
                                  prepare_clips, read_frame, resample_clip, resample_positions)
from mer_lib.data.records import ClipRecord, DatasetLayoutError, LoadReport
from mer_lib.data.synthetic import CLASS_NAMES, SynthME, face_gallery, find_face_features, synthetic_dataset

__all__ = ["CLASS_NAMES", "SynthME", "synthetic_dataset", "ClipRecord", "LoadReport", "DatasetLayoutError",
           "load_casme2", "load_casme_ii", "load_samm", "load_smic", "load_megc2019", "read_frame",
           "detect_face", "prepare_clip", "prepare_clips", "resample_positions", "resample_clip", "eye_alignment",
           "find_eyes", "compensate_head_motion", "face_gallery", "find_face_features", "DATASETS", "Dataset",
           "load_dataset", "apex_index", "FRAME_PATTERNS"]
