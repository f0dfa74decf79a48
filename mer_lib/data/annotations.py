"""Reading the annotation workbooks of the licensed databases, one cell at a time, never guessing.

Shared by the loaders (:mod:`mer_lib.data.loaders`): a cell that cannot be
read (a text frame number such as ``21b``, an empty or merged subject cell, a
blank row) makes its row be left out with the reason recorded in the
:class:`~mer_lib.data.records.LoadReport`, never repaired as if it were
missing; a workbook that cannot be opened is a one-line
:class:`~mer_lib.data.records.DatasetLayoutError` naming it.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from mer_lib.data.records import DatasetLayoutError

__all__ = ["require_root", "read_workbook", "find_workbook"]


def find_workbook(root: Path, patterns, name, expected, licence) -> tuple:
    """The annotation workbook under ``root``: the first file matching ``patterns``, in their order.

    Returns ``(path, others)``: the workbook read and the other matching
    files, which the report names. When none matches, the
    :class:`DatasetLayoutError` names what was expected and any file that
    looks like the workbook saved in another format (``.csv``, ``.xls``).
    """
    found = []
    for pattern in patterns:
        found += [p for p in sorted(root.glob(pattern)) if p not in found]
    if found:
        return found[0], found[1:]
    stems = {p.split("*")[0] for p in patterns}
    near = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() != ".xlsx"
                  and any(p.name.startswith(stem) for stem in stems))
    hint = f" (found {', '.join(near)}: the workbook must be the .xlsx file of the distribution)" if near else ""
    raise DatasetLayoutError(f"{name}: no annotation workbook {expected} in {str(root)!r}{hint}. " + licence)


def read_workbook(path: Path, name: str, **kwargs):
    """``pandas.read_excel(path, **kwargs)``, or a one-line :class:`DatasetLayoutError` naming the file.

    An empty file (0 bytes, as an interrupted copy leaves it), a CSV or any
    other file saved under the ``.xlsx`` name is refused with what it is.
    """
    import pandas as pd

    path = Path(path)
    if path.stat().st_size == 0:
        raise DatasetLayoutError(f"{name}: the annotation workbook {path} is empty (0 bytes); copy it again from "
                                 "the distribution")
    try:
        return pd.read_excel(path, engine="openpyxl", **kwargs)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as err:
        with open(path, "rb") as f:
            start = f.read(4)
        what = "a text or CSV file" if start[:1].isascii() and start[:2] != b"PK" else "not an Excel workbook"
        raise DatasetLayoutError(f"{name}: the annotation workbook {path} cannot be read as .xlsx ({what}: "
                                 f"{type(err).__name__}: {' '.join(str(err).split())})") from err


_LICENCE = ("{name} is licensed to researchers on request: ask the owning lab ({owner}) for a copy, "
            "then pass the folder that holds it.")


def require_root(root, name, owner, layout) -> Path:
    """The root folder of a licensed database, or a :class:`DatasetLayoutError` naming the layout and the licence."""
    if root is None:
        raise DatasetLayoutError(f"{name}: no root folder given. Expected under it: {layout}. "
                                 + _LICENCE.format(name=name, owner=owner))
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{name}: the root folder {str(root)!r} does not exist. Expected under it: "
                                 f"{layout}. " + _LICENCE.format(name=name, owner=owner))
    return root


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
