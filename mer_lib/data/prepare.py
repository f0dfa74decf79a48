"""Clip preparation: one face crop per clip, temporal resampling, grey, resize, [0, 1].

A clip record from a loader becomes an array of shape (T, size, size):

1. the face is found once, with OpenCV's Haar cascade on the onset frame, and
   the same crop is used for every frame (per-frame detection would make the
   crop jitter, which optical flow would read as motion);
2. the frames from onset to offset are resampled to ``n_frames`` evenly spaced
   instants (linear interpolation between neighbouring frames);
3. grey scale, resized with area averaging, divided by 255.

Prepared clips are cached as ``.npz`` files, read back with
``allow_pickle=False`` and written atomically (a temporary file renamed into
place), so an interrupted run never leaves a broken cache. The cache key
includes a digest of the frames' contents, so a frame repaired in place is
prepared again; a cache file broken by some other accident is recomputed with
a warning that names it. Truncated JPEG frames are refused by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_frame", "detect_face", "resample_positions", "prepare_clip", "prepare_clips",
           "atomic_save_npz", "load_npz"]


def read_frame(path) -> np.ndarray:
    """Read one frame as grey uint8.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ndarray, shape (H, W), uint8

    Raises
    ------
    FileNotFoundError
        When the file does not exist (the message names it).
    ValueError
        When the file exists but cannot be decoded as an image, or is a
        truncated JPEG (libjpeg decodes those with a grey band and only an
        unnamed warning on stderr).
    """
    import cv2

    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"frame not found: {path}")
    with open(path, "rb") as f:
        content = f.read()
    if _is_truncated_jpeg(content):
        raise ValueError(f"frame truncated (a JPEG without its end-of-image marker FFD9): {path}")
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"frame unreadable (not a decodable image): {path}")
    return image


def _is_truncated_jpeg(content: bytes) -> bool:
    """A JPEG (starts with the SOI marker FFD8) whose data do not end with the EOI marker FFD9.

    Some encoders pad a file after its EOI with zeros or line ends; those are allowed.
    Inside the entropy-coded data a 0xFF byte is always followed by 0x00 or a
    restart marker, so a file cut anywhere in the image data cannot end in FFD9.
    """
    if not content.startswith(b"\xff\xd8"):
        return False
    return not content.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


_CASCADE = None


def detect_face(image, min_size=40):
    """The largest frontal face in a grey image, by OpenCV's Haar cascade.

    Parameters
    ----------
    image : ndarray, shape (H, W), uint8
    min_size : int
        Smallest face side, in pixels.

    Returns
    -------
    tuple of 4 ints or None
        (x, y, w, h) of the face box, or None when no face is found.
    """
    import cv2

    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades,
                                                      "haarcascade_frontalface_default.xml"))
    faces = _CASCADE.detectMultiScale(np.asarray(image, np.uint8), scaleFactor=1.1, minNeighbors=5,
                                      minSize=(min_size, min_size))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def resample_positions(n_available: int, n_frames: int) -> np.ndarray:
    """Evenly spaced positions from the first to the last available frame.

    Parameters
    ----------
    n_available : int
        Frames from onset to offset (at least 1).
    n_frames : int
        Frames wanted.

    Returns
    -------
    ndarray, shape (n_frames,), float
        Positions in [0, n_available - 1]; the first is the onset, the last the offset.
    """
    if n_available < 1 or n_frames < 1:
        raise ValueError(f"need at least one frame available and wanted, got {n_available} and {n_frames}")
    return np.linspace(0.0, n_available - 1, n_frames)


def _crop_box(shape, face, margin):
    h, w = shape
    if face is None:
        side = min(h, w)
        return (w - side) // 2, (h - side) // 2, side
    x, y, fw, fh = face
    side = int(round(max(fw, fh) * (1 + 2 * margin)))
    side = min(side, h, w)
    cx, cy = x + fw / 2, y + fh / 2
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    return x0, y0, side


def prepare_clip(frame_paths, n_frames=8, size=64, face="detect", margin=0.1):
    """Prepare one clip: fixed face crop, temporal resampling, grey, resize, [0, 1].

    Parameters
    ----------
    frame_paths : list of str, or ClipRecord
        The frames from onset to offset, in order.
    n_frames : int, default 8
    size : int, default 64
    face : {"detect", "none"}
        "detect": crop the largest face found on the onset frame (the centre
        square when none is found); "none": the centre square (for databases
        distributed already cropped).
    margin : float
        Extra border around the detected face, as a fraction of its side.

    Returns
    -------
    frames : ndarray, shape (n_frames, size, size), float32 in [0, 1]
    info : dict
        ``box`` (x, y, side) of the crop and ``face_found``.
    """
    import cv2

    paths = list(getattr(frame_paths, "frame_paths", frame_paths))
    if not paths:
        raise ValueError("frame_paths is empty: a clip needs at least one frame")
    if face not in ("detect", "none"):
        raise ValueError(f"face must be 'detect' or 'none', got {face!r}")
    positions = resample_positions(len(paths), n_frames)
    needed = sorted({int(np.floor(p)) for p in positions} | {int(np.ceil(p)) for p in positions})
    images = {i: read_frame(paths[i]) for i in needed}
    onset = read_frame(paths[0]) if 0 not in images else images[0]
    shapes = {im.shape for im in images.values()}
    if len(shapes) > 1:
        raise ValueError(f"frames of one clip differ in size {sorted(shapes)}: {paths[0]} ...")
    found = detect_face(onset) if face == "detect" else None
    x0, y0, side = _crop_box(onset.shape, found, margin)
    crops = {i: cv2.resize(im[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
             .astype(np.float32) / 255.0 for i, im in images.items()}
    out = np.empty((n_frames, size, size), np.float32)
    for k, p in enumerate(positions):
        lo, hi = int(np.floor(p)), int(np.ceil(p))
        w = p - lo
        out[k] = crops[lo] if hi == lo else (1 - w) * crops[lo] + w * crops[hi]
    return np.clip(out, 0.0, 1.0), {"box": (x0, y0, side), "face_found": found is not None}


def atomic_save_npz(path, **arrays) -> None:
    """Write arrays to ``path`` (.npz) atomically: a temporary file renamed into place.

    Parameters
    ----------
    path : str or Path
    **arrays : ndarray
        Plain numeric or string arrays (no objects: read back without pickle).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_npz(path, keys=()):
    """Read a cache file written by :func:`atomic_save_npz`; None if missing or broken.

    A broken file (not a zip archive, cut short, unreadable, or lacking one of
    ``keys``) is not trusted: a warning names it and says that it will be
    recomputed, and None is returned so that the caller recomputes it.

    Parameters
    ----------
    path : str or Path
    keys : sequence of str
        Arrays the file must hold.

    Returns
    -------
    dict of ndarray or None
    """
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
        absent = [k for k in keys if k not in out]
        if absent:
            raise KeyError(f"no array {', '.join(absent)}")
        return out
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        warnings.warn(f"cache file {path} is broken ({type(err).__name__}: {err}); recomputing it", stacklevel=2)
        return None


def _frames_digest(paths) -> str:
    """A digest of the frames' contents (a missing file counts as missing, and is named when read)."""
    digest = hashlib.sha1()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digest.update(hashlib.sha1(f.read()).digest())
        else:
            digest.update(b"missing")
    return digest.hexdigest()


def _cache_key(record, settings) -> str:
    """The cache key of a clip: its identity, its settings and its frames' contents, so that a frame
    repaired in place (whatever its modification time) makes the clip be prepared again."""
    payload = json.dumps({"clip": record.clip_id, "db": record.database, "paths": list(record.frame_paths),
                          "frames": _frames_digest(record.frame_paths), "settings": settings}, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def prepare_clips(records, n_frames=8, size=64, face="detect", cache_dir=None, progress=True):
    """Prepare many clips, with a per-clip cache that survives interruption.

    Parameters
    ----------
    records : list of ClipRecord
    n_frames, size, face
        As in :func:`prepare_clip`.
    cache_dir : str or Path, optional
        Where prepared clips are cached (one ``.npz`` per clip and setting).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ndarray, shape (N, n_frames, size, size), float32
    """
    settings = {"n_frames": n_frames, "size": size, "face": face}
    out = np.empty((len(records), n_frames, size, size), np.float32)
    iterator = records
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(records, desc="preparing clips")
    for i, record in enumerate(iterator):
        cached = None
        if cache_dir is not None:
            safe = record.clip_id.replace("/", "_")
            path = Path(cache_dir) / record.database / f"{safe}-{_cache_key(record, settings)}.npz"
            cached = load_npz(path, keys=("frames",))
        if cached is not None and cached["frames"].shape == out.shape[1:]:
            out[i] = cached["frames"]
            continue
        frames, info = prepare_clip(record.frame_paths, n_frames, size, face)
        out[i] = frames
        if cache_dir is not None:
            atomic_save_npz(path, frames=frames, box=np.array(info["box"]))
    return out
