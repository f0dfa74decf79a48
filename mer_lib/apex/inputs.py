"""The apex-frame inputs of the shallow networks: onset-apex flow and optical strain, per clip.

Where the paper's two-stream network reads 8 frames and 16 flow maps, the
networks that followed it (OFF-ApexNet, Gan et al. 2019; STSTNet, Liong et
al. 2019) read two frames only, the onset and the apex: the horizontal flow
``u``, the vertical flow ``v`` and the optical strain between them, each
resized to 28 x 28. :func:`apex_inputs` makes those inputs from clips
(SynthME or prepared database clips) and an apex per clip, annotated or
spotted (:mod:`mer_lib.apex.spotting`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mer_lib.apex.spotting import _face_mask, _flow_function, _resized, match_brightness
from mer_lib.apex.strain import optical_strain
from mer_lib.errors import UserInputError

__all__ = ["ApexInputs", "CHANNELS", "onset_apex_flow", "apex_inputs", "true_motion"]

#: The input channels, in STSTNet's order: optical strain, horizontal flow, vertical flow.
CHANNELS = ("strain", "u", "v")
_EPS = 1e-8


@dataclass
class ApexInputs:
    """The inputs of a shallow apex network, with the flows and strain they were made from.

    Attributes
    ----------
    x : ndarray, shape (N, size, size, C), float32
        The network input: the channels of ``channels``, each clip's ``u`` and
        ``v`` divided by that clip's flow RMS, its strain by its strain RMS.
    channels : tuple of str
        Names of the channels of ``x``.
    flow : ndarray, shape (N, flow_size, flow_size, 2), float32
        Onset-to-apex flow, pixels at ``flow_size``.
    strain : ndarray, shape (N, flow_size, flow_size), float32
        Its optical strain (dimensionless).
    apex : ndarray of int, shape (N,)
        The apex frame of each clip the flow was computed to.
    settings : dict
        How the inputs were made.
    """

    x: np.ndarray
    channels: tuple
    flow: np.ndarray
    strain: np.ndarray
    apex: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def select(self, channels):
        """The same inputs with only some channels, in the order given.

        Parameters
        ----------
        channels : sequence of str
            Names among :attr:`channels` (e.g. ``("u", "v")``: flow without strain).

        Returns
        -------
        ApexInputs
        """
        channels = tuple(channels)
        unknown = [c for c in channels if c not in self.channels]
        if unknown or not channels:
            raise UserInputError(f"channels: expected a non-empty selection of {self.channels}, got {channels}")
        index = [self.channels.index(c) for c in channels]
        return ApexInputs(self.x[..., index], channels, self.flow, self.strain, self.apex,
                          dict(self.settings, channels=channels))


def onset_apex_flow(clip, apex, *, flow="tvl1", size=64, mask="face", brightness=True):
    """The optical flow from a clip's onset frame to its apex frame.

    Parameters
    ----------
    clip : array_like, shape (T, H, W)
    apex : int
        Index of the apex frame, 1 .. T - 1.
    flow : {"tvl1", "farneback"} or callable
        TV-L1 (the library's, chapter 4) by default.
    size : int or None, default 64
        The frames are resized to ``size`` x ``size`` (area averaging) first.
    mask : "face", None or ndarray of bool
        Where the brightness match is fitted.
    brightness : bool, default True
        Match the apex frame's gain and offset to the onset's first
        (:func:`mer_lib.apex.spotting.match_brightness`): TV-L1 reads a 2%
        flicker (SynthME's, or a lamp's) as motion of a pixel or more. The
        match has a cost: its gain is slightly biased when the face has
        moved, which TV-L1 reads as motion of about a tenth of a pixel
        (``tests/test_apex.py`` measures both); on SynthME the match lowers
        the apex flow's error (chapter 13).

    Returns
    -------
    ndarray, shape (size, size, 2), float32
        ``apex_frame(x + flow(x)) ~ onset(x)``, pixels at ``size``.
    """
    clip = np.asarray(clip, float)
    if clip.ndim != 3:
        raise UserInputError(f"clip: expected frames of shape (T, H, W), got {clip.shape}")
    if int(apex) != apex or not 0 < apex < len(clip):
        raise UserInputError(f"apex: expected the index of a frame after the onset, 1 .. {len(clip) - 1}, "
                             f"got {apex!r}")
    frames = _resized(clip[[0, int(apex)]], size)
    m = _face_mask(mask, frames.shape[1:])
    target = match_brightness(frames[0], frames[1], m) if brightness else frames[1]
    return np.asarray(_flow_function(flow)(frames[0], target), np.float32)


def _area(image, size):
    import cv2

    return cv2.resize(np.ascontiguousarray(image, np.float32), (size, size), interpolation=cv2.INTER_AREA)


def apex_inputs(clips, apex=None, *, size=28, flow_size=64, flow="tvl1", mask="face", brightness=True,
                channels=CHANNELS, progress=True):
    """Onset-apex flow and optical strain of every clip, resized into a shallow network's input.

    For each clip: the flow from the onset to the apex at ``flow_size``
    (:func:`onset_apex_flow`), its optical strain at the same size
    (:func:`mer_lib.apex.optical_strain`), then all three resized to
    ``size`` by area averaging (the displacements scaled by
    ``size / flow_size``; the strain, dimensionless, unchanged). Each clip's
    ``u`` and ``v`` are divided by its flow's root mean square, its strain by
    the strain's (our assumption: the authors' inputs are normalised 8-bit
    images, how exactly is not published); the raw fields are kept.

    Parameters
    ----------
    clips : SynthME, or array_like of shape (N, T, H, W)
    apex : array_like of int, shape (N,), optional
        The apex of each clip (1 .. T - 1); by default ``clips.apex`` (a SynthME
        dataset's true apex).
    size : int, default 28
        STSTNet's and OFF-ApexNet's input size.
    flow_size : int, default 64
        Where the flow is computed (the two-stream network's input size).
    flow, mask, brightness
        As in :func:`onset_apex_flow`.
    channels : sequence of str, default ("strain", "u", "v")
    progress : bool

    Returns
    -------
    ApexInputs
    """
    frames = np.asarray(getattr(clips, "frames", clips))
    if frames.ndim != 4 or frames.shape[1] < 2:
        raise UserInputError(f"clips: expected shape (N, T, H, W) with T >= 2, got {frames.shape}")
    if apex is None:
        if not hasattr(clips, "apex"):
            raise UserInputError("apex: required for an array of clips (only a SynthME dataset carries its own)")
        apex = clips.apex
    apex = np.asarray(apex)
    if apex.shape != (len(frames),) or not np.issubdtype(apex.dtype, np.integer):
        raise UserInputError(f"apex: expected {len(frames)} integer frame indices, got {apex.dtype} {apex.shape}")
    if int(size) != size or size < 4 or int(flow_size) != flow_size or flow_size < size:
        raise UserInputError(f"size and flow_size: expected integers with 4 <= size <= flow_size, got {size} and "
                             f"{flow_size}")
    channels = tuple(channels)
    if not channels or any(c not in CHANNELS for c in channels):
        raise UserInputError(f"channels: expected a selection of {CHANNELS}, got {channels}")
    iterator = range(len(frames))
    if progress:
        from mer_lib.env import progress_bar

        iterator = progress_bar(iterator, desc="onset-apex flow")
    flows = np.stack([onset_apex_flow(frames[i], int(apex[i]), flow=flow, size=flow_size, mask=mask,
                                      brightness=brightness) for i in iterator])
    strain = np.stack([optical_strain(f) for f in flows]).astype(np.float32)
    scale = size / flow_size
    maps = {"strain": np.stack([_area(s, size) for s in strain]),
            "u": np.stack([_area(f[..., 0], size) * scale for f in flows]),
            "v": np.stack([_area(f[..., 1], size) * scale for f in flows])}
    flow_rms = np.sqrt(np.mean(maps["u"] ** 2 + maps["v"] ** 2, axis=(1, 2)))[:, None, None] + _EPS
    strain_rms = np.sqrt(np.mean(maps["strain"] ** 2, axis=(1, 2)))[:, None, None] + _EPS
    scaled = {"strain": maps["strain"] / strain_rms, "u": maps["u"] / flow_rms, "v": maps["v"] / flow_rms}
    x = np.stack([scaled[c] for c in channels], axis=-1).astype(np.float32)
    settings = dict(size=int(size), flow_size=int(flow_size), flow=flow if isinstance(flow, str) else repr(flow),
                    mask=mask if mask is None or isinstance(mask, str) else "array", brightness=bool(brightness),
                    channels=channels)
    return ApexInputs(x, channels, flows, strain, apex.astype(int), settings)


def true_motion(data, apex=None, size=28):
    """SynthME's true expression displacement from the onset to the apex, its magnitude per pixel.

    The ground truth of where the face really moved because of the
    expression (blinks and head motion excluded), summed over the frames up
    to the apex and resized to ``size`` (area averaging, the displacement
    scaled by ``size / W``). Chapter 14 reads it as
    :func:`mer_lib.attribution.true_displacement`, which calls this function.

    Parameters
    ----------
    data : SynthME
        Carries ``expression_flow``, shape (N, T - 1, H, W, 2).
    apex : array_like of int, shape (N,), optional
        Default: the true apex, ``data.apex``.
    size : int, default 28

    Returns
    -------
    ndarray, shape (N, size, size), float32
        Pixels of displacement at ``size``.
    """
    if not hasattr(data, "expression_flow"):
        raise UserInputError("data: expected a SynthME dataset (it carries expression_flow)")
    apex = np.asarray(data.apex if apex is None else apex)
    if apex.shape != (len(data.labels),):
        raise UserInputError(f"apex: expected one index per clip, shape ({len(data.labels)},), got {apex.shape}")
    scale = size / data.expression_flow.shape[-2]
    out = []
    for i, a in enumerate(apex):
        disp = data.expression_flow[i, :int(a)].sum(axis=0)
        out.append(_area(np.hypot(disp[..., 0], disp[..., 1]), size) * scale)
    return np.stack(out).astype(np.float32)
