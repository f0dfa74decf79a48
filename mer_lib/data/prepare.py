"""Clip preparation: one face crop or alignment per clip, temporal normalisation, grey, resize, [0, 1].

A clip record from a loader becomes an array of shape (T, size, size):

1. the face is found once, on the onset frame, and the same crop (OpenCV's
   Haar box) or, with ``align=True``, the same similarity transform (the eyes
   put at fixed positions, :func:`eye_alignment`) is used for every frame
   (per-frame detection would make the crop jitter, which optical flow would
   read as motion);
2. optionally (``compensate=True``) a rigid head motion is estimated on the
   face's rigid parts and removed (:func:`compensate_head_motion`);
3. the frames from onset to offset are brought to ``n_frames`` evenly spaced
   instants (:func:`resample_clip`): by blending neighbouring frames, by the
   temporal interpolation model, or by motion-compensated interpolation;
4. grey scale, resized, divided by 255.

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
import warnings
from pathlib import Path

import numpy as np

# Alignment and face finding live in their own modules; prepare_clip uses them, and their names stay
# importable from here.
from mer_lib.data.align import (ALIGNED_EYES, compensate_head_motion, eye_alignment, find_eyes,  # noqa: F401
                                rigid_mask, rigid_motion, warp_similarity)
from mer_lib.data.faces import detect_face
from mer_lib.errors import UserInputError

from mer_lib._io import atomic_save_npz, load_npz  # noqa: F401 (public here too, as before)

__all__ = ["read_frame", "detect_face", "resample_positions", "prepare_clip", "prepare_clips",
           "atomic_save_npz", "load_npz", "ALIGNED_EYES", "eye_alignment", "warp_similarity", "find_eyes",
           "rigid_mask", "rigid_motion", "compensate_head_motion", "resample_clip", "TEMPORAL_METHODS"]


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
    UserInputError
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
        raise UserInputError(f"frame truncated (a JPEG without its end-of-image marker FFD9): {path}")
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_GRAYSCALE) if content else None
    if image is None:
        raise UserInputError(f"frame unreadable (not a decodable image{'; 0 bytes' if not content else ''}): {path}")
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
        raise UserInputError(f"need at least one frame available and wanted, got {n_available} and {n_frames}")
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


def prepare_clip(frame_paths, n_frames=8, size=64, face="detect", margin=0.1, align=False, compensate=False,
                 temporal="blend"):
    """Prepare one clip: fixed face crop or alignment, temporal normalisation, grey, resize, [0, 1].

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
    align : bool, default False
        Instead of the box crop, find the eyes on the onset frame and apply
        the similarity transform that puts them at :data:`ALIGNED_EYES` to
        every frame (once per clip, so that no jitter is added). When the eyes
        are not found, the box crop is used with a warning naming the frame.
    compensate : bool, default False
        Remove a rigid head motion (:func:`compensate_head_motion`) before
        the temporal normalisation.
    temporal : {"blend", "tim", "motion"}
        How the clip is brought to ``n_frames`` (:func:`resample_clip`).

    Returns
    -------
    frames : ndarray, shape (n_frames, size, size), float32 in [0, 1]
    info : dict
        ``box`` (x, y, side) of the crop, ``face_found``, ``aligned`` (bool),
        ``eyes`` (the onset frame's, when aligned) and ``motions`` (T, 2, 3)
        when compensated.

    Raises
    ------
    UserInputError
        No frame, a bad setting, a frame that cannot be read (truncated,
        not an image) or a frame whose size differs from the onset frame's
        (the message names it).
    FileNotFoundError
        A frame that does not exist.
    """
    import cv2

    paths = list(getattr(frame_paths, "frame_paths", frame_paths))
    if not paths:
        raise UserInputError("frame_paths is empty: a clip needs at least one frame")
    if face not in ("detect", "none"):
        raise UserInputError(f"face must be 'detect' or 'none', got {face!r}")
    if temporal not in TEMPORAL_METHODS:
        raise UserInputError(f"temporal must be one of {TEMPORAL_METHODS}, got {temporal!r}")
    for name, value in (("n_frames", n_frames), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{name} must be a positive integer, got {value!r}")
    positions = resample_positions(len(paths), n_frames)
    every = compensate or temporal != "blend"
    needed = (list(range(len(paths))) if every else
              sorted({0} | {int(np.floor(p)) for p in positions} | {int(np.ceil(p)) for p in positions}))
    images = {i: read_frame(paths[i]) for i in needed}
    onset = images[0]
    other = next((i for i in needed if images[i].shape != onset.shape), None)
    if other is not None:
        raise UserInputError(f"frames of one clip differ in size: {paths[other]} is {images[other].shape[1]} x "
                             f"{images[other].shape[0]} pixels, the clip's onset frame {paths[0]} "
                             f"{onset.shape[1]} x {onset.shape[0]}")
    eyes = find_eyes(onset) if align else None
    if align and eyes is None:
        warnings.warn(f"no face with confidently found eyes on the onset frame {paths[0]}: the clip is cropped "
                      "by its face box, not aligned", stacklevel=2)
    if eyes is not None:
        matrix = eye_alignment(eyes, size)
        crops = {i: warp_similarity(im, matrix, size) / 255.0 for i, im in images.items()}
        found = True
        inverse = cv2.invertAffineTransform(matrix)
        x0, y0 = inverse @ np.array([0.0, 0.0, 1.0])
        box = (int(round(x0)), int(round(y0)), int(round(size * np.hypot(*inverse[:, 0]))))
    else:
        found = detect_face(onset) if face == "detect" else None
        x0, y0, side = _crop_box(onset.shape, found, margin)
        crops = {i: cv2.resize(im[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)
                 .astype(np.float32) / 255.0 for i, im in images.items()}
        box = (x0, y0, side)
    info = {"box": box, "face_found": found is not None, "aligned": eyes is not None}
    if eyes is not None:
        info["eyes"] = np.asarray(eyes)
    if every:
        clip = np.stack([crops[i] for i in range(len(paths))])
        if compensate:
            clip, info["motions"] = compensate_head_motion(clip)
        out = resample_clip(clip, n_frames, temporal)
    else:
        out = np.empty((n_frames, size, size), np.float32)
        for k, p in enumerate(positions):
            lo, hi = int(np.floor(p)), int(np.ceil(p))
            w = p - lo
            out[k] = crops[lo] if hi == lo else (1 - w) * crops[lo] + w * crops[hi]
    return np.clip(out, 0.0, 1.0), info


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


def prepare_clips(records, n_frames=8, size=64, face="detect", cache_dir=None, progress=True, align=False,
                  compensate=False, temporal="blend", return_info=False):
    """Prepare many clips, with a per-clip cache that survives interruption.

    With ``face="detect"``, a clip on whose onset frame no face is found is
    cropped to the centre square (as :func:`prepare_clip` does); a warning
    names every such clip, and ``return_info`` returns it per clip.

    Parameters
    ----------
    records : list of ClipRecord
    n_frames, size, face, align, compensate, temporal
        As in :func:`prepare_clip`.
    cache_dir : str or Path, optional
        Where prepared clips are cached (one ``.npz`` per clip and setting).
    progress : bool
        Show a progress bar.
    return_info : bool, default False
        Also return what was done to each clip.

    Returns
    -------
    clips : ndarray, shape (N, n_frames, size, size), float32
    info : list of dict, only with ``return_info``
        Per clip: ``box`` (x, y, side) of the crop, ``face_found`` and
        ``aligned`` (bool), as :func:`prepare_clip` gives them.

    Warns
    -----
    UserWarning
        Clips centre-cropped because no face was found on their onset frame.
    """
    settings = {"n_frames": n_frames, "size": size, "face": face}
    if align or compensate or temporal != "blend":  # (the keys of earlier caches stay valid)
        settings.update(align=bool(align), compensate=bool(compensate), temporal=temporal)
    out = np.empty((len(records), n_frames, size, size), np.float32)
    infos = []
    iterator = records
    if progress:
        from mer_lib.env import progress_bar
        iterator = progress_bar(records, desc="preparing clips")
    for i, record in enumerate(iterator):
        cached = None
        if cache_dir is not None:
            safe = record.clip_id.replace("/", "_")
            path = Path(cache_dir) / record.database / f"{safe}-{_cache_key(record, settings)}.npz"
            cached = load_npz(path, keys=("frames",))
        # a cache file of an earlier version lacks face_found: it is prepared again, to know
        if cached is not None and cached["frames"].shape == out.shape[1:] and "face_found" in cached:
            out[i] = cached["frames"]
            infos.append({"box": tuple(int(v) for v in cached["box"]), "face_found": bool(cached["face_found"]),
                          "aligned": bool(cached.get("aligned", False))})
            continue
        frames, info = prepare_clip(record.frame_paths, n_frames, size, face, align=align, compensate=compensate,
                                    temporal=temporal)
        out[i] = frames
        infos.append({k: info[k] for k in ("box", "face_found", "aligned")})
        if cache_dir is not None:
            atomic_save_npz(path, frames=frames, box=np.array(info["box"]), face_found=np.array(info["face_found"]),
                            aligned=np.array(info["aligned"]))
    if face == "detect":
        centred = [r.clip_id for r, info in zip(records, infos) if not info["face_found"]]
        if centred:
            shown = ", ".join(centred[:5]) + (", ..." if len(centred) > 5 else "")
            warnings.warn(f"no face found on the onset frame of {len(centred)} of {len(records)} clips, cropped to "
                          f"the centre square instead: {shown}", stacklevel=2)
    return (out, infos) if return_info else out


# ---------------------------------------------------------------------------- temporal normalisation
TEMPORAL_METHODS = ("blend", "tim", "motion")


def resample_clip(frames, n_frames, method="blend"):
    """Temporal normalisation of a clip to ``n_frames`` evenly spaced instants.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W)
        The clip from onset to offset.
    n_frames : int
    method : {"blend", "tim", "motion"}
        "blend": each new frame mixes its two neighbours linearly (a
        cross-dissolve: a moving edge appears twice, at half contrast).
        "tim": the temporal interpolation model (Zhou et al. 2011, used by
        Pfister et al. 2011): the clip is embedded as a path graph, whose
        Laplacian's eigenvectors are ``cos(pi k (t + 1/2) / T)``, and each
        pixel follows the curve spanned by them; it passes through every
        frame and is smooth, but it still interpolates brightness, not motion.
        "motion": motion-compensated interpolation: the flows F_01 and F_10
        between two neighbours (:func:`mer_lib.flow.tvl1`, both ways) give the
        flows from the new instant w back to each, ``F_w0 = -(1 - w) w F_01 +
        w^2 F_10`` and ``F_w1 = (1 - w)^2 F_01 - w (1 - w) F_10`` (exact for a
        uniform motion; Jiang et al., Super SloMo, CVPR 2018), and each
        neighbour is warped to the new instant before they are mixed,
        ``(1 - w) f_0(x + F_w0(x)) + w f_1(x + F_w1(x))``.

    Returns
    -------
    ndarray, shape (n_frames, H, W), float32
    """
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 3 or len(frames) < 1:
        raise UserInputError(f"frames must be a clip of shape (T, H, W) with T >= 1, got {frames.shape}")
    if method not in TEMPORAL_METHODS:
        raise UserInputError(f"method must be one of {TEMPORAL_METHODS}, got {method!r}")
    positions = resample_positions(len(frames), n_frames)
    if method == "tim":
        return _tim(frames, positions)
    out = np.empty((n_frames,) + frames.shape[1:], np.float32)
    flows = {}
    for k, p in enumerate(positions):
        lo, hi = int(np.floor(p)), int(np.ceil(p))
        w = p - lo
        if hi == lo or w < 1e-6:
            out[k] = frames[lo]
        elif method == "blend":
            out[k] = (1 - w) * frames[lo] + w * frames[hi]
        else:
            from mer_lib.flow import tvl1, warp

            if lo not in flows:
                flows[lo] = tvl1(frames[lo], frames[hi]), tvl1(frames[hi], frames[lo])
            forward, backward = flows[lo]
            # the flows from the new instant back to each neighbour, from the two flows between them
            to_lo = -(1 - w) * w * forward + w * w * backward
            to_hi = (1 - w) ** 2 * forward - w * (1 - w) * backward
            out[k] = (1 - w) * warp(frames[lo], to_lo) + w * warp(frames[hi], to_hi)
    return out


def _tim(frames, positions):
    """The temporal interpolation model: a cosine (path-graph eigenvector) curve through every frame."""
    n = len(frames)
    if n == 1:
        return np.repeat(frames, len(positions), axis=0)
    k = np.arange(n)
    basis = np.cos(np.pi * np.outer(np.arange(n) + 0.5, k) / n)          # (T, T): y_k(t)
    coefficients = np.linalg.solve(basis, frames.reshape(n, -1))           # frames = basis @ coefficients
    new = np.cos(np.pi * np.outer(np.asarray(positions) + 0.5, k) / n)
    return (new @ coefficients).reshape((len(positions),) + frames.shape[1:]).astype(np.float32)
