"""Loaders for the licensed micro-expression databases.

CAS(ME)^2, CASME II, SAMM and SMIC are released only to researchers who sign a
licence agreement with the lab that recorded them. These loaders read a
licensed copy in its official layout (see ``shared/reference/DATASETS.md`` in
the course repository) and return one :class:`ClipRecord` per usable clip.
Every loader can report what it kept, left out and why, repaired, which
workbook it read and which files it did not read (``report=True``, a
:class:`LoadReport`): rows whose cells cannot be read (a text frame number
such as ``21b``, an empty or merged subject cell, a blank row), duplicate rows
of one clip (the first is kept, with a warning), clips with frames missing
between onset and offset or with two files for one frame number. Frames are
found by each database's documented naming pattern only
(:data:`mer_lib.data.frames.FRAME_PATTERNS`); any other file of a clip's
folder is reported and never read. A workbook that is missing, unreadable or
lacks a required column is a one-line :class:`DatasetLayoutError` naming it.
"""

from __future__ import annotations

from pathlib import Path

from mer_lib.data.annotations import (_LICENCE, _annotated_rows, _blank, _finish, _frame_cell, _int_or_none,
                                      _map_emotion, _repair_apex, _row_is_blank, _Skip, _subject_cell, find_workbook,
                                      read_workbook, require_root)
from mer_lib.data.frames import frames_between, scan_frames
from mer_lib.data.records import ClipRecord, DatasetLayoutError, LoadReport
from mer_lib.errors import UserInputError

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
_CASME2_CLASSES = {"negative": "negative", "positive": "positive", "surprise": "surprise"}
_CAS = "Institute of Psychology, Chinese Academy of Sciences"


def _check_min_frames(min_frames):
    if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1:
        raise UserInputError(f"min_frames must be a positive integer, got {min_frames!r}")


class _Folders:
    """The frame folders of one loader call, each scanned once by the pattern ``pattern`` (a key of
    FRAME_PATTERNS); the files it does not read go to the report, once."""

    def __init__(self, root, pattern, rep):
        self.root, self.pattern, self.rep, self.seen = Path(root), pattern, rep, {}

    def scan(self, folder, subject=""):
        folder = Path(folder)
        if folder not in self.seen:
            self.seen[folder] = scan_frames(folder, self.pattern, subject)
            self.rep.ignored_files += self.seen[folder].ignored()
        return self.seen[folder]

    def clip_frames(self, folder, onset, offset, subject=""):
        """(paths from onset to offset, None), or (None, the reason the clip is left out)."""
        found = self.scan(folder, subject)
        return frames_between(found, onset, offset, str(Path(folder).relative_to(self.root)))

# ---------------------------------------------------------------------------- CAS(ME)^2
def _casme2_row(row, name, where, expression_type, min_frames, missing_offset, subject_folder, stimulus_code,
                folders, rep):
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
    if emotion.lower() == "others":
        rep.left_out.append((name, "emotion 'others'"))
        return None
    label = _map_emotion(emotion, _CASME2_CLASSES, set(), f"CAS(ME)^2 row {name!r}", name, rep)
    if label is None:
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
    number = "".join(c for c in folder_name if c.isdigit())
    prefix = f"{int(number):02d}_{stimulus_code[stimulus]:04d}"
    candidates = sorted(p for p in (folders.root / "rawpic" / folder_name).glob(f"{prefix}*") if p.is_dir())
    if not candidates:
        rep.left_out.append((name, f"frames folder not found: rawpic/{folder_name}/{prefix}*"))
        return None
    if len(candidates) > 1:
        rep.left_out.append((name, f"ambiguous frames folder: {len(candidates)} folders match "
                                   f"rawpic/{folder_name}/{prefix}* ({', '.join(p.name for p in candidates)})"))
        return None
    frames, why = folders.clip_frames(candidates[0], onset, offset)
    if frames is None:
        rep.left_out.append((name, why))
        return None
    return ClipRecord("casme2", folder_name, f"{folder_name}/{name}", frames, onset, apex, offset, emotion, label,
                      "" if _blank(row[5]) else str(row[5]).strip(), notes)


def _casme2_naming_rules(sheets):
    """(subject index -> folder name, stimulus name -> code) from the sheets 'naming rule1' and 'naming rule2'."""
    subject_folder, stimulus_code = {}, {}
    for row in sheets["naming rule1"].itertuples(index=False) if "naming rule1" in sheets else ():
        idx, name = _int_or_none(row[2]) if len(row) > 2 else None, row[1] if len(row) > 1 else None
        if idx is not None and isinstance(name, str):     # folder number, folder name, subject index
            subject_folder[idx] = name.strip()
    for row in sheets["naming rule2"].itertuples(index=False) if "naming rule2" in sheets else ():
        code, name = _int_or_none(row[0]), row[1] if len(row) > 1 else None
        if code is not None and isinstance(name, str):     # stimulus code, stimulus name
            stimulus_code[name.strip()] = code
    return subject_folder, stimulus_code


def load_casme2(root, expression_type="micro", min_frames=8, missing_offset="apex", report=False):
    """Load CAS(ME)^2 (Qu et al., IEEE TAC 2018), the paper's database.

    Reads the headerless sheet ``CASFEcode_final`` of the annotation workbook
    (``CAS(ME)^2code_final(Updated).xlsx`` when a copy has it, else
    ``CAS(ME)^2code_final.xlsx``; the report names the one read and any
    other) and its naming-rule sheets, and finds each clip's frames
    ``img<N>.jpg`` under ``rawpic/sNN/NN_CCCC<text>/``, the one folder with
    the ``NN_CCCC`` prefix (a clip whose prefix two folders share is left
    out, not guessed).

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
    UserInputError
        A bad argument.
    DatasetLayoutError
        When ``root`` or the workbook is missing or unreadable, or the
        workbook lacks its sheet or columns.
    """
    if expression_type not in ("micro", "macro", "all"):
        raise UserInputError(f"expression_type must be 'micro', 'macro' or 'all', got {expression_type!r}")
    if not (missing_offset == "apex" or (isinstance(missing_offset, int) and missing_offset > 0)):
        raise UserInputError(f"missing_offset must be 'apex' or a positive int, got {missing_offset!r}")
    _check_min_frames(min_frames)
    root = require_root(root, "CAS(ME)^2", _CAS, "rawpic/sNN/NN_CCCC<text>/imgN.jpg and CAS(ME)^2code_final.xlsx")
    workbook, others = find_workbook(
        root, ("CAS(ME)^2code_final*.xlsx", "CAS(ME)*code*.xlsx"), "CAS(ME)^2",
        "'CAS(ME)^2code_final.xlsx' (or 'CAS(ME)^2code_final(Updated).xlsx'); expected the distribution's top "
        "level: rawpic/, rawvideo/, cropped/, selectedpic/ and the workbook",
        _LICENCE.format(name="CAS(ME)^2", owner=_CAS))
    sheets = read_workbook(workbook, "CAS(ME)^2", sheet_name=None, header=None)
    if "CASFEcode_final" not in sheets:
        raise DatasetLayoutError(f"CAS(ME)^2: {workbook.name} has no sheet 'CASFEcode_final' "
                                 f"(sheets: {', '.join(sheets)})")
    subject_folder, stimulus_code = _casme2_naming_rules(sheets)
    table = sheets["CASFEcode_final"]
    if table.shape[1] < 8:
        raise DatasetLayoutError(
            f"CAS(ME)^2: {workbook.name}, sheet 'CASFEcode_final' has {table.shape[1]} columns; expected at least "
            "8 (subject, name, onset, apex, offset, action units, emotion, type)")
    rep = LoadReport("CAS(ME)^2", workbook=str(workbook))
    rep.ignored_files += [(str(p), f"another annotation workbook: {workbook.name} is read") for p in others]
    records = []
    folders = _Folders(root, "casme2", rep)
    for k, row in enumerate(table.itertuples(index=False)):
        where = f"{workbook.name} sheet CASFEcode_final row {k + 1}"
        if _row_is_blank(row):
            rep.left_out.append((f"row {k + 1}", f"blank row: {where}"))
            continue
        name = f"row {k + 1}" if _blank(row[1]) else str(row[1]).strip()
        try:
            record = _casme2_row(row, name, where, expression_type, min_frames, missing_offset, subject_folder,
                                 stimulus_code, folders, rep)
        except _Skip as skip:
            rep.left_out.append((name, str(skip)))
            continue
        if record is not None:
            records.append(record)
    return _finish(records, rep, report)


# ---------------------------------------------------------------------------- CASME II and SAMM
def _annotated_clips(root, table, book, first_line, subject_format, columns, mapping, known, context, min_frames,
                     clip_folder, database, pattern, rep):
    """The ClipRecords of a CASME II or SAMM table whose frames are all found (named by ``pattern``, a key
    of FRAME_PATTERNS), one per usable row; every row left out goes to ``rep`` with its reason."""
    records = []
    folders = _Folders(root, pattern, rep)
    rows = _annotated_rows(table, book, first_line, subject_format, columns, mapping, known, context, rep)
    for row, name, subject, emotion, label, onset, apex, offset, notes in rows:
        if offset - onset + 1 < min_frames:
            rep.left_out.append((name, f"too short: {offset - onset + 1} frames < min_frames={min_frames}"))
            continue
        folder = clip_folder(subject, name)
        if not folder.is_dir():
            rep.left_out.append((name, f"frames folder not found: {folder.relative_to(root)}"))
            continue
        frames, why = folders.clip_frames(folder, onset, offset, subject)
        if frames is None:
            rep.left_out.append((name, why))
            continue
        units = row.get("Action Units", "")
        records.append(ClipRecord(database, subject, f"{subject}/{name}", frames, onset, apex, offset, emotion,
                                  label, "" if _blank(units) else str(units).strip(), notes))
    return records


def load_casme_ii(root, variant="raw", mapping=None, min_frames=1, report=False):
    """Load CASME II (Yan et al., PLoS ONE 2014).

    Parameters
    ----------
    root : str or Path
        The folder holding ``CASME2-coding-*.xlsx`` and ``CASME2_RAW_selected/``
        (or ``Cropped/``).
    variant : {"raw", "cropped"}
        ``CASME2_RAW_selected/subNN/<Filename>/img<N>.jpg`` or
        ``Cropped/subNN/<Filename>/reg_img<N>.jpg``; any other file of a
        clip's folder is reported, not read.
    mapping : dict, optional
        Emotion -> class; by default the MEGC 2019 composite's
        (negative = disgust + repression; fear, sadness and others left out).
    min_frames : int, default 1
        Clips with fewer frames from onset to offset are left out.
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)

    Raises
    ------
    UserInputError
        A bad argument.
    DatasetLayoutError
        A missing root, a missing or unreadable workbook, or missing columns.
    """
    if variant not in ("raw", "cropped"):
        raise UserInputError(f"variant must be 'raw' or 'cropped', got {variant!r}")
    _check_min_frames(min_frames)
    mapping = CASME_II_MAPPING if mapping is None else mapping
    folder, pattern = ("CASME2_RAW_selected", "imgN.jpg") if variant == "raw" else ("Cropped", "reg_imgN.jpg")
    root = require_root(root, "CASME II", _CAS, f"CASME2-coding-*.xlsx and {folder}/subNN/<Filename>/{pattern}")
    book, others = find_workbook(root, ("CASME2-coding-*.xlsx",), "CASME II", "CASME2-coding-*.xlsx",
                                 _LICENCE.format(name="CASME II", owner=_CAS))
    table = read_workbook(book, "CASME II", header=0)
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed")]]
    required = {"Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"}
    missing = required - set(table.columns)
    if missing:
        raise DatasetLayoutError(f"CASME II: {book.name} lacks the columns {sorted(missing)}")
    rep = LoadReport("CASME II", workbook=str(book))
    rep.ignored_files += [(str(p), f"another annotation workbook: {book.name} is read") for p in others]
    records = _annotated_clips(root, table, book.name, 2, "sub{:02d}", ("OnsetFrame", "ApexFrame", "OffsetFrame"),
                               mapping, _CASME_II_KNOWN, lambda subject, name: f"CASME II {subject}/{name}",
                               min_frames, lambda subject, name: root / folder / subject / name, "casme_ii",
                               "casme_ii" if variant == "raw" else "casme_ii_cropped", rep)   # row 1: the header
    return _finish(records, rep, report)


def load_samm(root, mapping=None, min_frames=1, report=False):
    """Load SAMM (Davison et al., IEEE TAC 2018).

    The workbook ``SAMM_Micro_FACS_Codes_v2.xlsx`` starts with a text preamble;
    its header row is found by its ``Subject`` cell. Frames are the files
    ``<subject>_<N>.jpg`` (or another image type) under
    ``<root>/<subject, 3 digits>/<Filename>/``, ``N`` the frame number; any
    other file is reported, not read, and so are two files for one number
    (``006_01004.jpg`` and ``006_1004.jpg``: the clip is left out).

    Parameters
    ----------
    root : str or Path
    mapping : dict, optional
        Emotion -> class; by default the MEGC 2019 composite's.
    min_frames : int, default 1
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)

    Raises
    ------
    UserInputError
        A bad argument.
    DatasetLayoutError
        A missing root, a missing or unreadable workbook, no header row, or
        missing columns.
    """
    _check_min_frames(min_frames)
    mapping = MEGC2019_MAPPING if mapping is None else mapping
    root = require_root(root, "SAMM", "Manchester Metropolitan University",
                        "SAMM_Micro_FACS_Codes_v2.xlsx and <subject>/<subject>_<n>_<m>/<subject>_<N>.jpg")
    book, others = find_workbook(root, ("SAMM_Micro_FACS_Codes*.xlsx",), "SAMM", "SAMM_Micro_FACS_Codes_v2.xlsx",
                                 _LICENCE.format(name="SAMM", owner="Manchester Metropolitan University"))
    raw = read_workbook(book, "SAMM", header=None)
    header_rows = [i for i, v in enumerate(raw.iloc[:, 0]) if str(v).strip() == "Subject"] if raw.shape[1] else []
    if not header_rows:
        raise DatasetLayoutError(f"SAMM: {book.name} has no header row starting with 'Subject'")
    h = header_rows[0]
    table = raw.iloc[h + 1:].copy()
    table.columns = [str(c).strip() for c in raw.iloc[h]]
    missing = [c for c in ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion")
               if c not in table.columns]
    if missing:
        raise DatasetLayoutError(f"SAMM: {book.name}, header row {h + 1}, lacks the columns {missing} "
                                 f"(it has {[c for c in table.columns if c != 'nan']})")
    rep = LoadReport("SAMM", workbook=str(book))
    rep.ignored_files += [(str(p), f"another annotation workbook: {book.name} is read") for p in others]
    records = _annotated_clips(root, table, book.name, h + 2, "{:03d}", ("Onset Frame", "Apex Frame", "Offset Frame"),
                               mapping, _SAMM_KNOWN, lambda subject, name: f"SAMM {name}", min_frames,
                               lambda subject, name: root / subject / name, "samm", "samm", rep)
    return _finish(records, rep, report)


# ---------------------------------------------------------------------------- SMIC-HS
def load_smic(root, min_frames=1, report=False):
    """Load SMIC-HS (Li et al., FG 2013): labels from folder names, apex = middle frame.

    Frames are the files ``image<N>.jpg`` (or another image type) of each
    clip's folder, ``N`` the frame number; any other file is reported, not
    read. A clip with a gap in its numbers or two files for one number is
    left out.

    Parameters
    ----------
    root : str or Path
        The folder holding ``HS/`` (or ``HS/`` itself).
    min_frames : int, default 1
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, LoadReport)

    Raises
    ------
    UserInputError
        A bad argument.
    DatasetLayoutError
        A missing root, or no ``<subject>/micro/`` folder.
    """
    _check_min_frames(min_frames)
    root = require_root(root, "SMIC", "University of Oulu",
                        "HS/<subject>/micro/<negative|positive|surprise>/<clip>/image<N>.jpg")
    hs = root / "HS" if (root / "HS").is_dir() else root
    rep = LoadReport("SMIC-HS")
    records = []
    subjects = sorted(p for p in hs.iterdir() if p.is_dir())
    if not any((s / "micro").is_dir() for s in subjects):
        raise DatasetLayoutError(f"SMIC: no <subject>/micro/ folders under {str(hs)!r}; expected "
                                 "HS/<subject>/micro/<class>/<clip>/<frames>")
    folders = _Folders(hs, "smic", rep)
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
                found = folders.scan(clip_dir)
                numbers = sorted(set(found.frames) | set(found.duplicates))
                if len(numbers) < max(min_frames, 1):
                    rep.left_out.append((name, f"too short: {len(numbers)} frames < min_frames={min_frames}"))
                    continue
                onset, offset = numbers[0], numbers[-1]
                files, why = folders.clip_frames(clip_dir, onset, offset)
                if files is None:
                    rep.left_out.append((name, why))
                    continue
                apex = onset + len(files) // 2
                records.append(ClipRecord("smic", subject_dir.name, f"{subject_dir.name}/{name}", files, onset,
                                          apex, offset, class_dir.name, label, "",
                                          ["no apex annotated: middle frame"]))
    return _finish(records, rep, report)


def load_megc2019(roots, min_frames=1, report=False):
    """Load the MEGC 2019 composite (SMIC-HS + CASME II + SAMM, 3 classes).

    Parameters
    ----------
    roots : dict
        ``{"smic": path, "casme_ii": path, "samm": path}``.
    min_frames : int, default 1
        Passed to each loader.
    report : bool

    Returns
    -------
    list of ClipRecord, or (list, list of LoadReport)
        Subjects are prefixed with the database (``smic/s3``) so that the 68
        subjects stay distinct for leave-one-subject-out.
    """
    if not isinstance(roots, dict) or set(roots) != {"smic", "casme_ii", "samm"}:
        raise UserInputError("roots must be a dict with the keys 'smic', 'casme_ii' and 'samm', got "
                             f"{sorted(roots) if isinstance(roots, dict) else roots!r}")
    out, reports = [], []
    for key, loader in (("smic", load_smic), ("casme_ii", load_casme_ii), ("samm", load_samm)):
        records, rep = loader(roots[key], min_frames=min_frames, report=True)
        for r in records:
            r.subject = f"{key}/{r.subject}"
        out += records
        reports.append(rep)
    return (out, reports) if report else out
