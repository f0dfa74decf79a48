"""The frame files of a clip's folder, found by its database's documented naming pattern only.

A file is a frame when its whole name matches the database's pattern
(:data:`FRAME_PATTERNS`): ``img<N>.jpg`` in CAS(ME)^2 and CASME II,
``reg_img<N>.jpg`` in CASME II's cropped release, ``<subject>_<N>.<image>`` in
SAMM, ``image<N>.<image>`` in SMIC-HS. Every other file (``desktop1.ini``,
``notes_1004.txt``, ``Thumbs.db``) is reported and never read, and so is a
second file for one frame number (``006_01004.jpg`` beside ``006_1004.jpg``):
which of the two is the frame cannot be told, so neither is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FRAME_PATTERNS", "FrameFolder", "scan_frames", "frames_between"]

_IMAGE = r"\.(?:jpg|jpeg|png|bmp|tif|tiff)"

#: Frame-file names of each database: (regular expression for the whole name, whose group is the frame
#: number; the same, as written in messages). ``{subject}`` is the subject's folder name.
FRAME_PATTERNS = {
    "casme2": (r"img(\d+)\.jpg", "img<N>.jpg"),
    "casme_ii": (r"img(\d+)\.jpg", "img<N>.jpg"),
    "casme_ii_cropped": (r"reg_img(\d+)\.jpg", "reg_img<N>.jpg"),
    "samm": (r"{subject}_(\d+)" + _IMAGE, "{subject}_<N>.jpg (or another image type)"),
    "smic": (r"image(\d+)" + _IMAGE, "image<N>.jpg (or another image type)"),
}


@dataclass
class FrameFolder:
    """The files of one clip's folder, sorted out by a naming pattern.

    Attributes
    ----------
    folder : Path
    frames : dict of int to str
        Frame number -> path, for the numbers that exactly one file holds.
    duplicates : dict of int to list of str
        Frame number -> every file that names it, for the numbers two or more
        files name (none of them is a frame).
    others : list of str
        Files whose names do not match the pattern.
    pattern : str
        The pattern, as written in messages.
    """

    folder: Path
    frames: dict = field(default_factory=dict)
    duplicates: dict = field(default_factory=dict)
    others: list = field(default_factory=list)
    pattern: str = ""

    def ignored(self) -> list:
        """(path, reason) for every file that is not read as a frame, for a :class:`LoadReport`."""
        out = [(p, f"not a frame name: expected {self.pattern}") for p in self.others]
        for number, paths in sorted(self.duplicates.items()):
            names = ", ".join(Path(p).name for p in paths)
            out += [(p, f"duplicate frame number: {number} is named by {len(paths)} files ({names})") for p in paths]
        return out


def scan_frames(folder, database, subject="") -> FrameFolder:
    """Sort the files of ``folder`` into frames (by number), duplicates and other files.

    Parameters
    ----------
    folder : str or Path
        A clip's folder (or a CAS(ME)^2 video's).
    database : str
        A key of :data:`FRAME_PATTERNS`.
    subject : str
        The subject's folder name, for SAMM's pattern.

    Returns
    -------
    FrameFolder

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("006_1004.jpg", "006_01004.jpg", "006_1005.jpg", "notes_1004.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> found = scan_frames(folder, "samm", subject="006")
    >>> sorted(found.frames), sorted(found.duplicates), [Path(p).name for p in found.others]
    ([1005], [1004], ['notes_1004.txt'])
    """
    regex, described = FRAME_PATTERNS[database]
    pattern = re.compile(regex.format(subject=re.escape(subject)), flags=re.IGNORECASE)
    found = FrameFolder(Path(folder), pattern=described.format(subject=subject))
    named: dict = {}
    for path in sorted(Path(folder).iterdir()):
        match = pattern.fullmatch(path.name) if path.is_file() else None
        if match is None:
            found.others.append(str(path))
        else:
            named.setdefault(int(match.group(1)), []).append(str(path))
    for number, paths in named.items():
        if len(paths) == 1:
            found.frames[number] = paths[0]
        else:
            found.duplicates[number] = paths
    found.frames = dict(sorted(found.frames.items()))
    return found


def frames_between(found: FrameFolder, onset: int, offset: int, where: str):
    """The frame paths from ``onset`` to ``offset``, or the reason they cannot be read.

    Parameters
    ----------
    found : FrameFolder
    onset, offset : int
    where : str
        The folder as named in the reason (relative to the database's root).

    Returns
    -------
    (list of str, None) or (None, str)
        The paths in order, or None and the reason the clip is left out: a
        frame number two files name, or frames missing.
    """
    numbers = range(onset, offset + 1)
    doubled = [n for n in numbers if n in found.duplicates]
    if doubled:
        n = doubled[0]
        names = ", ".join(Path(p).name for p in found.duplicates[n])
        return None, (f"duplicate frame numbers: {len(doubled)} frame(s) from onset {onset} to offset {offset} are "
                      f"named by two files in {where} (frame {n}: {names}); which one is the frame cannot be told")
    absent = [n for n in numbers if n not in found.frames]
    if absent:
        shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
        return None, (f"missing frames: {len(absent)} of {len(numbers)} frames from onset {onset} to offset "
                      f"{offset} are not in {where} ({shown}); frames are named {found.pattern}")
    return [found.frames[n] for n in numbers], None
