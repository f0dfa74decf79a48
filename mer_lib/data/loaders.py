"""Loaders for the licensed micro-expression databases.

CAS(ME)^2, CASME II, SAMM and SMIC are released only to researchers who sign a
licence agreement with the lab that recorded them. These loaders read a
licensed copy in its official layout (see ``shared/reference/DATASETS.md`` in
the course repository) and return one :class:`ClipRecord` per usable clip.
Every loader can report what it left out and why (``report=True``): rows
whose cells cannot be read (a text frame number such as ``21b``, an empty or
merged subject cell, a blank row), duplicate rows of one clip (the first is
kept, with a warning), SAMM clips with frames missing between onset and
offset. A workbook that lacks a required column is a one-line
:class:`DatasetLayoutError` naming it.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ClipRecord", "LoadReport", "DatasetLayoutError", "load_casme2", "load_casme_ii", "load_samm",
           "load_smic", "load_megc2019", "MEGC2019_MAPPING", "CASME_II_MAPPING"]

#: MEGC 2019 composite: emotion -> 3 classes (Liu et al. / See et al., MEGC 2019).
MEGC2019_MAPPING = {
    "negative": "negative", "repression": "negative", "anger": "negative", "contempt": "negative",
    "disgust": "negative", "fear": "negative", "sadness": "negative",
    "positive": "positive", "happiness": "positive",
    "surprise": "surprise",
}
#: CASME II in the composite: negative is disgust + repression only (fear and
#: sadness are too few and are left out, like "others").
CASME_II_MAPPING = {"disgust": "negative", "repression": "negative", "happiness": "positive",
                    "surprise": "surprise"}
_CASME_II_KNOWN = set(CASME_II_MAPPING) | {"fear", "sadness", "others"}
_SAMM_KNOWN = set(MEGC2019_MAPPING) | {"other", "others"}


@dataclass
class ClipRecord:
    """One annotated clip of a database.

    Attributes
    ----------
    database : str
        "casme2" (CAS(ME)^2), "casme_ii", "samm" or "smic".
    subject : str
        The subject's folder name (``s15``, ``sub01``, ``006``, ``s3``).
    clip_id : str
        ``<subject>/<annotation's clip name>``, e.g. ``s15/anger1_1``, ``sub01/EP02_01f``.
    frame_paths : list of str
        The frames from onset to offset, in order.
    onset, apex, offset : int
        Frame numbers as annotated (after the documented repairs).
    emotion : str
        The emotion as annotated.
    label : str
        The 3-class label: "negative", "positive" or "surprise".
    action_units : str
    notes : list of str
        Repairs applied to this row (e.g. "apex 0 -> midpoint 312").
    """

    database: str
    subject: str
    clip_id: str
    frame_paths: list
    onset: int
    apex: int
    offset: int
    emotion: str
    label: str
    action_units: str = ""
    notes: list = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return len(self.frame_paths)


@dataclass
class LoadReport:
    """What a loader kept, left out and repaired.

    Attributes
    ----------
    kept : int
    left_out : list of (str, str)
        (clip name, reason) for every row that was not kept.
    repaired : list of (str, str)
        (clip name, what was repaired) for kept rows.
    workbook : str or None
        The annotation workbook the rows were read from (None for SMIC, whose
        labels are folder names, and for SynthME).
    """

    database: str
    kept: int = 0
    left_out: list = field(default_factory=list)
    repaired: list = field(default_factory=list)
    workbook: str | None = None

    def reasons(self) -> Counter:
        """How many rows were left out for each reason (the reason's kind, before any colon)."""
        return Counter(reason.split(":")[0] for _, reason in self.left_out)

    def __str__(self) -> str:
        lines = [f"{self.database}: kept {self.kept} clips, left out {len(self.left_out)}"]
        if self.workbook:
            lines.append(f"  workbook: {self.workbook}")
        lines += [f"  {n:4d}  {reason}" for reason, n in sorted(self.reasons().items())]
        if self.repaired:
            lines.append(f"  repaired {len(self.repaired)} rows ({Counter(r.split(' ')[0] for _, r in self.repaired)})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain data (str, int, list, dict): what ``json.dump`` writes."""
        return {"database": self.database, "kept": self.kept, "workbook": self.workbook,
                "left_out": [{"clip": n, "reason": r} for n, r in self.left_out],
                "repaired": [{"clip": n, "repair": r} for n, r in self.repaired]}


class DatasetLayoutError(FileNotFoundError):
    """A database's root or annotation file is missing or not in the official layout."""


_LICENCE = ("{name} is licensed to researchers on request: ask the owning lab ({owner}) for a copy, "
            "then pass the folder that holds it.")


def _require_root(root, name, owner, layout) -> Path:
    if root is None:
        raise DatasetLayoutError(f"{name}: no root folder given. Expected under it: {layout}. "
                                 + _LICENCE.format(name=name, owner=owner))
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{name}: the root folder {str(root)!r} does not exist. Expected under it: "
                                 f"{layout}. " + _LICENCE.format(name=name, owner=owner))
    return root


def _frame_number(path: str) -> int:
    match = re.search(r"(\d+)(?=\.[A-Za-z0-9]+$)", os.path.basename(path))
    return int(match.group(1)) if match else -1


def _int_or_none(value):
    """An annotation cell as an int; None for empty, '/', '-' or NaN."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value in ("", "/", "-", "nan"):
            return None
        try:
            return int(float(value))
        except ValueError:
            return None
    try:
        if np.isnan(value):
            return None
    except TypeError:
        pass
    return int(value)


class _Skip(Exception):
    """A row that cannot be used; the message is the reason recorded in the report."""


def _blank(value) -> bool:
    """An empty cell: None, NaN or a string of spaces."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in ("", "nan")
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def _frame_cell(value, what, where):
    """A frame-number cell as an int, or None when empty, '/' or '-'.

    Raises _Skip naming the cell, the row and what was expected when the cell
    holds anything else (``21b``, ``12.5``, a date): such a cell is never read
    as "missing" and repaired as if it were.
    """
    if _blank(value) or (isinstance(value, str) and value.strip() in ("/", "-")):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        number = None
    if number is None or not np.isfinite(number) or not float(number).is_integer():
        raise _Skip(f"not a frame number: {what} {value!r} in {where} (expected a whole number)")
    return int(number)


def _subject_cell(value, where):
    """A subject cell (``1``, ``1.0``, ``'01'``, ``'sub01'``, ``'s1'``) as an int; _Skip otherwise."""
    if _blank(value):
        raise _Skip(f"subject cell empty: {where} (a blank or merged cell; the row is not attributed to "
                    "a subject)")
    match = re.fullmatch(r"\s*(?:sub|s)?0*(\d+)(?:\.0+)?\s*", str(value), flags=re.IGNORECASE)
    if match is None:
        raise _Skip(f"subject not a number: {value!r} in {where} (expected 1, '01' or 'sub01')")
    return int(match.group(1))


def _row_is_blank(values) -> bool:
    return all(_blank(v) for v in values)


def _finish(records, report, want_report):
    """Keep the first record of each clip id; report (and warn about) the duplicates, which would
    otherwise put one clip on both sides of a split."""
    kept, seen = [], {}
    for record in records:
        first = seen.get(record.clip_id)
        if first is None:
            seen[record.clip_id] = record
            kept.append(record)
            continue
        same = (first.onset, first.apex, first.offset, first.emotion) == (record.onset, record.apex,
                                                                          record.offset, record.emotion)
        report.left_out.append((record.clip_id.split("/", 1)[-1],
                                f"duplicate row: {record.clip_id} is already kept from an earlier row"
                                + ("" if same else f" (which says onset {first.onset}, apex {first.apex}, "
                                   f"offset {first.offset}, {first.emotion}; this one {record.onset}, "
                                   f"{record.apex}, {record.offset}, {record.emotion})")))
    duplicates = len(records) - len(kept)
    if duplicates:
        warnings.warn(f"{report.database}: {duplicates} duplicate annotation row(s) left out, the first row "
                      "of each clip kept (see the report)", stacklevel=3)
    report.kept = len(kept)
    return (kept, report) if want_report else kept


def _map_emotion(emotion, mapping, known, where, name, report):
    """The 3-class label of an annotated emotion, or None with the reason recorded: a known emotion
    outside the mapping is left out quietly; an unknown one is left out with a warning, never guessed."""
    key = emotion.lower()
    if key in mapping:
        return mapping[key]
    if key in known:
        report.left_out.append((name, f"emotion {emotion!r} not in the 3-class mapping"))
    else:
        report.left_out.append((name, f"unknown emotion label: {emotion!r}"))
        warnings.warn(f"{where}: unknown emotion label {emotion!r} left out", stacklevel=3)
    return None


def _repair_apex(onset, apex, offset, name, notes, report):
    """The apex, or the midpoint of onset and offset when it is missing, 0, -1
    (SAMM's mark for "none") or outside the clip; the repair is noted."""
    if apex is None or apex <= 0 or not onset <= apex <= offset:
        mid = (onset + offset) // 2
        what = "missing" if apex is None else str(apex)
        note = f"apex {what} -> midpoint {mid}"
        notes.append(note)
        report.repaired.append((name, note))
        return mid
    return apex


def _annotated_rows(table, book, first_line, subject_format, frame_columns, mapping, known, context, rep):
    """The usable rows of a CASME II or SAMM workbook, one tuple per clip; what is left out goes to ``rep``.

    Yields ``(row, name, subject, emotion, label, onset, apex, offset, notes)``
    for each row that is not blank, has a subject, a Filename, a mapped
    emotion and readable onset and offset frames; ``first_line`` is the
    workbook line of the table's first row, ``subject_format`` formats the
    subject's number (``"sub{:02d}"``), ``context(subject, name)`` names the
    clip in warnings about an unknown emotion.
    """
    for k, row in enumerate(table.to_dict("records")):
        line = first_line + k
        where = f"{book} row {line}"
        if _row_is_blank(row.values()):
            rep.left_out.append((f"row {line}", f"blank row: {where}"))
            continue
        name = f"row {line}" if _blank(row["Filename"]) else str(row["Filename"]).strip()
        try:
            subject = subject_format.format(_subject_cell(row["Subject"], where))
            if _blank(row["Filename"]):
                raise _Skip(f"no Filename: {where}")
            emotion = str(row["Estimated Emotion"]).strip()
            label = _map_emotion(emotion, mapping, known, context(subject, name), name, rep)
            if label is None:
                continue
            onset, apex, offset, notes = _onset_apex_offset(row, frame_columns, where, name, rep)
        except _Skip as skip:
            rep.left_out.append((name, str(skip)))
            continue
        yield row, name, subject, emotion, label, onset, apex, offset, notes


def _onset_apex_offset(row, columns, where, name, rep):
    """(onset, apex, offset, notes) of a CASME II or SAMM row; a missing apex becomes the midpoint (noted);
    _Skip for a missing or unreadable onset or offset, or an offset before the onset."""
    onset, apex, offset = (_frame_cell(row[c], c, where) for c in columns)
    if onset is None or offset is None:
        raise _Skip(f"no {columns[0] if onset is None else columns[2]}: {where}")
    if offset < onset:
        raise _Skip(f"offset before onset: {columns[0]} {onset}, {columns[2]} {offset} in {where}")
    notes = []
    apex = _repair_apex(onset, apex, offset, name, notes, rep)
    return onset, apex, offset, notes


# ---------------------------------------------------------------------------- CAS(ME)^2
def _casme2_workbook(root: Path) -> Path:
    candidates = sorted(root.glob("CAS(ME)^2code_final*.xlsx")) + sorted(root.glob("CAS(ME)*code*.xlsx"))
    if not candidates:
        raise DatasetLayoutError(
            f"CAS(ME)^2: no annotation workbook 'CAS(ME)^2code_final.xlsx' (or "
            f"'CAS(ME)^2code_final(Updated).xlsx') in {str(root)!r}. Expected the distribution's top level: "
            "rawpic/, rawvideo/, cropped/, selectedpic/ and the workbook. "
            + _LICENCE.format(name="CAS(ME)^2", owner="Institute of Psychology, Chinese Academy of Sciences"))
    return candidates[0]


def _casme2_row(row, name, where, expression_type, min_frames, missing_offset, subject_folder, stimulus_code,
                rawpic, rep):
    """One CAS(ME)^2 row as a ClipRecord; None when left out for a reason recorded in ``rep``; _Skip for a
    cell that cannot be read."""
    subject_index = _subject_cell(row[0], where)
    if _blank(row[1]):
        raise _Skip(f"no expression name: {where}")
    kind = str(row[7]).strip().lower()
    if expression_type != "all" and not kind.startswith(expression_type):
        rep.left_out.append((name, f"{kind.split('-')[0]} expression (kept: {expression_type})"))
        return None
    emotion = str(row[6]).strip()
    label = emotion.lower()
    if label == "others":
        rep.left_out.append((name, "emotion 'others'"))
        return None
    if label not in ("negative", "positive", "surprise"):
        rep.left_out.append((name, f"unknown emotion label: {emotion!r}"))
        warnings.warn(f"CAS(ME)^2 row {name!r}: unknown emotion label {emotion!r} left out", stacklevel=3)
        return None
    onset = _frame_cell(row[2], "onset", where)
    apex = _frame_cell(row[3], "apex", where)
    offset = _frame_cell(row[4], "offset", where)
    if onset is None:
        raise _Skip(f"no onset: {where}")
    notes = []
    if not offset:
        if not apex:
            rep.left_out.append((name, "no apex and no offset"))
            return None
        offset = apex if missing_offset == "apex" else onset + missing_offset - 1
        note = f"offset 0 -> {'apex' if missing_offset == 'apex' else f'onset + {missing_offset - 1}'} {offset}"
        notes.append(note)
        rep.repaired.append((name, note))
    if offset < onset:
        raise _Skip(f"offset before onset: onset {onset}, offset {offset} in {where}")
    apex = _repair_apex(onset, apex, offset, name, notes, rep)
    if offset - onset + 1 < min_frames:
        rep.left_out.append((name, f"too short: {offset - onset + 1} frames < min_frames={min_frames}"))
        return None
    folder_name = subject_folder.get(subject_index, f"s{subject_index:02d}")
    stimulus = name.rsplit("_", 1)[0]
    if stimulus not in stimulus_code:
        rep.left_out.append((name, f"stimulus {stimulus!r} not in the sheet 'naming rule2'"))
        return None
    number = re.sub(r"\D", "", folder_name)
    prefix = f"{int(number):02d}_{stimulus_code[stimulus]:04d}"
    folders = sorted(p for p in (rawpic / folder_name).glob(f"{prefix}*") if p.is_dir())
    if not folders:
        rep.left_out.append((name, f"frames folder not found: rawpic/{folder_name}/{prefix}*"))
        return None
    frames = [str(folders[0] / f"img{n}.jpg") for n in range(onset, offset + 1)]
    return ClipRecord("casme2", folder_name, f"{folder_name}/{name}", frames, onset, apex, offset, emotion, label,
                      "" if _blank(row[5]) else str(row[5]).strip(), notes)


def load_casme2(root, expression_type="micro", min_frames=8, missing_offset="apex", report=False):
    """Load CAS(ME)^2 (Qu et al., IEEE TAC 2018), the paper's database.

    Reads the headerless sheet ``CASFEcode_final`` of the annotation workbook
    and its naming-rule sheets, and finds each clip's frames under
    ``rawpic/sNN/NN_CCCC<text>/img<N>.jpg`` by the folder's ``NN_CCCC`` prefix.

    Parameters
    ----------
    root : str or Path
        The folder holding ``rawpic/`` and ``CAS(ME)^2code_final.xlsx``.
    expression_type : {"micro", "macro", "all"}
        Which rows to keep.
    min_frames : int, default 8
        Clips with fewer frames from onset to offset are left out (the paper
        keeps clips of 8 frames or more).
    missing_offset : "apex" or int
        What an offset of 0 becomes: the apex (the clip ends at its apex), or
        ``onset + missing_offset - 1`` (a fixed length after the onset). Rows
        with both apex and offset 0 are left out.
    report : bool
        Also return a :class:`LoadReport`.

    Returns
    -------
    list of ClipRecord, or (list of ClipRecord, LoadReport)
        Label mapping: negative, positive and surprise are kept; ``others`` is
        left out; any other emotion is reported and left out, never guessed.

    Raises
    ------
    DatasetLayoutError
        When ``root`` or the workbook is missing.
    """
    import pandas as pd

    if expression_type not in ("micro", "macro", "all"):
        raise ValueError(f"expression_type must be 'micro', 'macro' or 'all', got {expression_type!r}")
    if not (missing_offset == "apex" or (isinstance(missing_offset, int) and missing_offset > 0)):
        raise ValueError(f"missing_offset must be 'apex' or a positive int, got {missing_offset!r}")
    root = _require_root(root, "CAS(ME)^2", "Institute of Psychology, Chinese Academy of Sciences",
                         "rawpic/sNN/NN_CCCC<text>/imgN.jpg and CAS(ME)^2code_final.xlsx")
    workbook = _casme2_workbook(root)
    sheets = pd.read_excel(workbook, sheet_name=None, header=None)
    if "CASFEcode_final" not in sheets:
        raise DatasetLayoutError(f"CAS(ME)^2: {workbook.name} has no sheet 'CASFEcode_final' "
                                 f"(sheets: {', '.join(sheets)})")
    # naming rule1: folder number, folder name, subject index
    subject_folder = {}
    if "naming rule1" in sheets:
        for row in sheets["naming rule1"].itertuples(index=False):
            idx, name = _int_or_none(row[2]) if len(row) > 2 else None, row[1] if len(row) > 1 else None
            if idx is not None and isinstance(name, str):
                subject_folder[idx] = name.strip()
    # naming rule2: stimulus code, stimulus name
    stimulus_code = {}
    if "naming rule2" in sheets:
        for row in sheets["naming rule2"].itertuples(index=False):
            code, name = _int_or_none(row[0]), row[1] if len(row) > 1 else None
            if code is not None and isinstance(name, str):
                stimulus_code[name.strip()] = code
    table = sheets["CASFEcode_final"]
    if table.shape[1] < 8:
        raise DatasetLayoutError(
            f"CAS(ME)^2: {workbook.name}, sheet 'CASFEcode_final' has {table.shape[1]} columns; expected at least "
            "8 (subject, name, onset, apex, offset, action units, emotion, type)")
    rep = LoadReport("CAS(ME)^2", workbook=str(workbook))
    records = []
    rawpic = root / "rawpic"
    for k, row in enumerate(table.itertuples(index=False)):
        where = f"{workbook.name} sheet CASFEcode_final row {k + 1}"
        if _row_is_blank(row):
            rep.left_out.append((f"row {k + 1}", f"blank row: {where}"))
            continue
        name = f"row {k + 1}" if _blank(row[1]) else str(row[1]).strip()
        try:
            record = _casme2_row(row, name, where, expression_type, min_frames, missing_offset, subject_folder,
                                 stimulus_code, rawpic, rep)
        except _Skip as skip:
            rep.left_out.append((name, str(skip)))
            continue
        if record is not None:
            records.append(record)
    return _finish(records, rep, report)


# ---------------------------------------------------------------------------- CASME II
def load_casme_ii(root, variant="raw", mapping=None, min_frames=1, report=False):
    """Load CASME II (Yan et al., PLoS ONE 2014).

    Parameters
    ----------
    root : str or Path
        The folder holding ``CASME2-coding-*.xlsx`` and ``CASME2_RAW_selected/``
        (or ``Cropped/``).
    variant : {"raw", "cropped"}
        ``CASME2_RAW_selected/subNN/<Filename>/imgN.jpg`` or
        ``Cropped/subNN/<Filename>/reg_imgN.jpg``.
    mapping : dict, optional
        Emotion -> class; by default the MEGC 2019 composite's
        (negative = disgust + repression; fear, sadness and others left out).
    min_frames : int
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)
    """
    import pandas as pd

    if variant not in ("raw", "cropped"):
        raise ValueError(f"variant must be 'raw' or 'cropped', got {variant!r}")
    mapping = CASME_II_MAPPING if mapping is None else mapping
    folder, pattern = ("CASME2_RAW_selected", "img{}.jpg") if variant == "raw" else ("Cropped", "reg_img{}.jpg")
    root = _require_root(root, "CASME II", "Institute of Psychology, Chinese Academy of Sciences",
                         f"CASME2-coding-*.xlsx and {folder}/subNN/<Filename>/{pattern.format('N')}")
    books = sorted(root.glob("CASME2-coding-*.xlsx"))
    if not books:
        raise DatasetLayoutError(f"CASME II: no annotation workbook CASME2-coding-*.xlsx in {str(root)!r}")
    table = pd.read_excel(books[0], header=0)
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed")]]
    missing = {"Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"} - set(table.columns)
    if missing:
        raise DatasetLayoutError(f"CASME II: {books[0].name} lacks the columns {sorted(missing)}")
    rep = LoadReport("CASME II", workbook=str(books[0]))
    records = []
    rows = _annotated_rows(table, books[0].name, 2, "sub{:02d}", ("OnsetFrame", "ApexFrame", "OffsetFrame"), mapping,
                           _CASME_II_KNOWN, lambda subject, name: f"CASME II {subject}/{name}", rep)  # row 1: header
    for row, name, subject, emotion, label, onset, apex, offset, notes in rows:
        if offset - onset + 1 < min_frames:
            rep.left_out.append((name, f"too short: {offset - onset + 1} frames < min_frames={min_frames}"))
            continue
        clip_dir = root / folder / subject / name
        if not clip_dir.is_dir():
            rep.left_out.append((name, f"frames folder not found: {folder}/{subject}/{name}"))
            continue
        frames = [str(clip_dir / pattern.format(n)) for n in range(onset, offset + 1)]
        units = row.get("Action Units", "")
        records.append(ClipRecord("casme_ii", subject, f"{subject}/{name}", frames, onset, apex, offset, emotion,
                                  label, "" if _blank(units) else str(units).strip(), notes))
    return _finish(records, rep, report)


# ---------------------------------------------------------------------------- SAMM
def load_samm(root, mapping=None, min_frames=1, report=False):
    """Load SAMM (Davison et al., IEEE TAC 2018).

    The workbook ``SAMM_Micro_FACS_Codes_v2.xlsx`` starts with a text preamble;
    its header row is found by its ``Subject`` cell. Frames are under
    ``<root>/<subject, 3 digits>/<Filename>/`` with names ending in the frame
    number.

    Parameters
    ----------
    root : str or Path
    mapping : dict, optional
        Emotion -> class; by default the MEGC 2019 composite's.
    min_frames : int
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)
    """
    import pandas as pd

    mapping = MEGC2019_MAPPING if mapping is None else mapping
    root = _require_root(root, "SAMM", "Manchester Metropolitan University",
                         "SAMM_Micro_FACS_Codes_v2.xlsx and <subject>/<subject>_<n>_<m>/<frames>")
    books = sorted(root.glob("SAMM_Micro_FACS_Codes*.xlsx"))
    if not books:
        raise DatasetLayoutError(f"SAMM: no annotation workbook SAMM_Micro_FACS_Codes_v2.xlsx in {str(root)!r}")
    raw = pd.read_excel(books[0], header=None)
    header_rows = [i for i, v in enumerate(raw.iloc[:, 0]) if str(v).strip() == "Subject"]
    if not header_rows:
        raise DatasetLayoutError(f"SAMM: {books[0].name} has no header row starting with 'Subject'")
    h = header_rows[0]
    table = raw.iloc[h + 1:].copy()
    table.columns = [str(c).strip() for c in raw.iloc[h]]
    missing = [c for c in ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion")
               if c not in table.columns]
    if missing:
        raise DatasetLayoutError(f"SAMM: {books[0].name}, header row {h + 1}, lacks the columns {missing} "
                                 f"(it has {[c for c in table.columns if c != 'nan']})")
    rep = LoadReport("SAMM", workbook=str(books[0]))
    records = []
    rows = _annotated_rows(table, books[0].name, h + 2, "{:03d}", ("Onset Frame", "Apex Frame", "Offset Frame"),
                           mapping, _SAMM_KNOWN, lambda subject, name: f"SAMM {name}", rep)
    for row, name, subject, emotion, label, onset, apex, offset, notes in rows:
        clip_dir = root / subject / name
        files = sorted((p for p in glob.glob(str(clip_dir / "*")) if _frame_number(p) >= 0), key=_frame_number)
        if not files:
            rep.left_out.append((name, f"frames folder not found: {subject}/{name}"))
            continue
        frames = [p for p in files if onset <= _frame_number(p) <= offset]
        numbers = {_frame_number(p) for p in frames}
        absent = [n for n in range(onset, offset + 1) if n not in numbers]
        if absent:
            shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
            rep.left_out.append((name, f"missing frames: {len(absent)} of {offset - onset + 1} frames from onset "
                                       f"{onset} to offset {offset} are not in {subject}/{name} ({shown})"))
            continue
        if len(frames) < min_frames:
            rep.left_out.append((name, f"too short: {len(frames)} frames < min_frames={min_frames}"))
            continue
        units = row.get("Action Units", "")
        records.append(ClipRecord("samm", subject, f"{subject}/{name}", frames, onset, apex, offset, emotion,
                                  label, "" if _blank(units) else str(units).strip(), notes))
    return _finish(records, rep, report)


# ---------------------------------------------------------------------------- SMIC-HS
def load_smic(root, min_frames=1, report=False):
    """Load SMIC-HS (Li et al., FG 2013): labels from folder names, apex = middle frame.

    Parameters
    ----------
    root : str or Path
        The folder holding ``HS/`` (or ``HS/`` itself).
    min_frames : int
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)
    """
    root = _require_root(root, "SMIC", "University of Oulu",
                         "HS/<subject>/micro/<negative|positive|surprise>/<clip>/<frames>")
    hs = root / "HS" if (root / "HS").is_dir() else root
    rep = LoadReport("SMIC-HS")
    records = []
    subjects = sorted(p for p in hs.iterdir() if p.is_dir())
    if not any((s / "micro").is_dir() for s in subjects):
        raise DatasetLayoutError(f"SMIC: no <subject>/micro/ folders under {str(hs)!r}; expected "
                                 "HS/<subject>/micro/<class>/<clip>/<frames>")
    for subject_dir in subjects:
        micro = subject_dir / "micro"
        if not micro.is_dir():
            continue
        for class_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            label = class_dir.name.lower()
            for clip_dir in sorted(p for p in class_dir.iterdir() if p.is_dir()):
                name = clip_dir.name
                if label not in ("negative", "positive", "surprise"):
                    rep.left_out.append((name, f"unknown emotion label: {class_dir.name!r}"))
                    continue
                files = sorted((p for p in glob.glob(str(clip_dir / "*")) if _frame_number(p) >= 0),
                               key=_frame_number)
                if len(files) < max(min_frames, 1):
                    rep.left_out.append((name, f"too short: {len(files)} frames < min_frames={min_frames}"))
                    continue
                onset, offset = _frame_number(files[0]), _frame_number(files[-1])
                apex = _frame_number(files[len(files) // 2])
                records.append(ClipRecord("smic", subject_dir.name, f"{subject_dir.name}/{name}", files, onset,
                                          apex, offset, class_dir.name, label, "",
                                          ["no apex annotated: middle frame"]))
    return _finish(records, rep, report)


def load_megc2019(roots, report=False):
    """Load the MEGC 2019 composite (SMIC-HS + CASME II + SAMM, 3 classes).

    Parameters
    ----------
    roots : dict
        ``{"smic": path, "casme_ii": path, "samm": path}``.
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, list of LoadReport)
        Subjects are prefixed with the database (``smic/s3``) so that the 68
        subjects stay distinct for leave-one-subject-out.
    """
    if not isinstance(roots, dict) or set(roots) != {"smic", "casme_ii", "samm"}:
        raise ValueError("roots must be a dict with the keys 'smic', 'casme_ii' and 'samm', got "
                         f"{sorted(roots) if isinstance(roots, dict) else roots!r}")
    out, reports = [], []
    for key, loader in (("smic", load_smic), ("casme_ii", load_casme_ii), ("samm", load_samm)):
        records, rep = loader(roots[key], report=True)
        for r in records:
            r.subject = f"{key}/{r.subject}"
        out += records
        reports.append(rep)
    return (out, reports) if report else out
