"""What a loader returns: one :class:`ClipRecord` per clip kept, and a :class:`LoadReport` of the rest.

The report says what was kept, what was left out and why, what was repaired,
which annotation workbook was read, which files of the clips' folders were not
read as frames, and what the preparation of the clips had to do (a clip with
no face found, cropped to its centre). It prints as a short summary
(``str(report)``), lists every entry (:meth:`LoadReport.details`) and turns
into plain data for a JSON file (:meth:`LoadReport.to_dict`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mer_lib.errors import UserInputError

__all__ = ["ClipRecord", "LoadReport", "DatasetLayoutError"]


class DatasetLayoutError(UserInputError, FileNotFoundError):
    """A database's root or annotation file is missing, unreadable or not in the official layout.

    A :class:`mer_lib.errors.UserInputError` (the library's one type for a
    user's mistake, printed by ``mer`` as one line), and a
    ``FileNotFoundError`` as it always was.
    """


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


def _kind(text: str) -> str:
    """The kind of a reason, note or repair: its text before the first colon (``too short``)."""
    return text.split(":")[0].strip()


def _repair_kind(text: str) -> str:
    """The kind of a repair: its first word and its target (``apex 0 -> midpoint 205`` -> ``apex -> midpoint``)."""
    words = text.split()
    if "->" in words:
        i = words.index("->")
        return f"{words[0]} -> {words[i + 1]}" if i + 1 < len(words) else words[0]
    return _kind(text)


@dataclass
class LoadReport:
    """What a loader kept, left out and repaired, which workbook it read and which files it did not read.

    Attributes
    ----------
    database : str
        The database's name, as printed (``CAS(ME)^2``, ``CASME II``, ...).
    kept : int
        Clips kept.
    left_out : list of (str, str)
        (clip name, reason) for every row or clip that was not kept. The
        reason starts with its kind, then a colon and the details
        (``too short: 5 frames < min_frames=8``).
    repaired : list of (str, str)
        (clip name, what was repaired) for kept rows (``apex 0 -> midpoint 205``).
    workbook : str or None
        The annotation workbook that was read (None for SMIC, whose labels
        are folder names, and for SynthME).
    ignored_files : list of (str, str)
        (path, reason) for every file the loader found and did not read: in
        the clips' folders, a name outside the database's frame-name pattern
        (``desktop1.ini``, ``notes_1004.txt``) or a second file for one frame
        number (``006_01004.jpg`` beside ``006_1004.jpg``); beside the
        workbook, another annotation workbook.
    notes : list of (str, str)
        (clip, note) for what was done after loading that a reader should
        know: a clip cropped to its centre because no face was found, the
        clips a smoke-test run left out.
    parts : list of LoadReport
        The reports of the databases of a composite (MEGC 2019), in order.

    Examples
    --------
    >>> report = LoadReport("CASME II", kept=2, workbook="CASME2-coding-20140508.xlsx",
    ...                     left_out=[("EP07_01", "frames folder not found: CASME2_RAW_selected/sub03/EP07_01")])
    >>> print(report)
    CASME II: kept 2 clips, left out 1, repaired 0, ignored 0 files
      workbook: CASME2-coding-20140508.xlsx
      left out:
           1  frames folder not found
    """

    database: str
    kept: int = 0
    left_out: list = field(default_factory=list)
    repaired: list = field(default_factory=list)
    workbook: str | None = None
    ignored_files: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    parts: list = field(default_factory=list)

    def reasons(self) -> Counter:
        """How many rows were left out for each reason (the reason's kind, before any colon)."""
        return Counter(_kind(reason) for _, reason in self.left_out)

    def summary_lines(self, indent: str = "") -> list:
        """The lines of ``str(report)``, each prefixed by ``indent``."""
        files = len(self.ignored_files)
        lines = [f"{self.database}: kept {self.kept} clips, left out {len(self.left_out)}, repaired "
                 f"{len(self.repaired)}, ignored {files} file{'' if files == 1 else 's'}"]
        if self.workbook:
            lines.append(f"  workbook: {self.workbook}")
        for title, counts in (("left out", self.reasons()),
                              ("repaired", Counter(_repair_kind(what) for _, what in self.repaired)),
                              ("ignored files", Counter(_kind(why) for _, why in self.ignored_files)),
                              ("notes", Counter(_kind(note) for _, note in self.notes))):
            if counts:
                lines.append(f"  {title}:")
                lines += [f"    {n:4d}  {kind}" for kind, n in sorted(counts.items())]
        for part in self.parts:
            lines += part.summary_lines("  ")
        return [indent + line for line in lines]

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def details(self) -> str:
        """Every entry of the report, one per line, under the summary: what a reader checks row by row."""
        lines = self.summary_lines()
        for title, entries in (("left out", self.left_out), ("repaired", self.repaired),
                               ("ignored files", self.ignored_files), ("notes", self.notes)):
            if entries:
                lines.append(f"{self.database}, {title} ({len(entries)}):")
                lines += [f"  {name}: {text}" for name, text in entries]
        for part in self.parts:
            lines += [""] + part.details().splitlines()
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain data (str, int, list, dict): what ``json.dump`` writes."""
        return {"database": self.database, "kept": self.kept, "workbook": self.workbook,
                "left_out": [{"clip": n, "reason": r} for n, r in self.left_out],
                "repaired": [{"clip": n, "repair": r} for n, r in self.repaired],
                "ignored_files": [{"path": p, "reason": r} for p, r in self.ignored_files],
                "notes": [{"clip": n, "note": r} for n, r in self.notes],
                "parts": [part.to_dict() for part in self.parts]}
