"""Small animations for the static book: clips and flow fields side by side, as JavaScript HTML."""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["animate_panels", "animation_html"]


def animate_panels(panels, titles, *, cmap="gray", vmin=0.0, vmax=1.0, interval=250, dpi=50, panel_size=2.2,
                   suptitle=None):
    """Animate clips side by side, one panel per clip, all advancing together.

    Parameters
    ----------
    panels : sequence of P array_like, each of shape (T, H, W) or (T, H, W, 3)
        The clips (grey-scale, shown with ``cmap``) or colour images (RGB in
        [0, 1], e.g. colour-coded flow); all must have the same T.
    titles : sequence of P str
        One title per panel.
    cmap : str
        Colour map of grey-scale panels.
    vmin, vmax : float
        Display range of grey-scale panels.
    interval : int
        Milliseconds per frame.
    dpi : int
        Resolution of the rendered frames: keep it low, every frame is
        embedded in the page.
    panel_size : float
        Width and height of each panel, in inches.
    suptitle : str, optional
        A title above the panels.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Render it with ``IPython.display.HTML(anim.to_jshtml())``; the figure
        itself is closed, so that a notebook does not show it a second time.

    Raises
    ------
    UserInputError
        When ``panels`` is empty, ``titles`` does not match it, or the clips
        differ in length or are not (T, H, W) / (T, H, W, 3).
    """
    import matplotlib.pyplot as plt
    from matplotlib import animation

    panels = [np.asarray(p) for p in panels]
    titles = list(titles)
    if not panels:
        raise UserInputError("panels must hold at least one clip")
    if len(titles) != len(panels):
        raise UserInputError(f"titles must have one entry per panel: {len(panels)} panels, {len(titles)} titles")
    for p in panels:
        if p.ndim not in (3, 4) or (p.ndim == 4 and p.shape[-1] != 3):
            raise UserInputError(f"panels must be clips of shape (T, H, W) or (T, H, W, 3), got {p.shape}")
    lengths = {p.shape[0] for p in panels}
    if len(lengths) != 1:
        raise UserInputError(f"panels must all have the same number of frames, got {sorted(lengths)}")
    n_frames = lengths.pop()
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size * len(panels), panel_size + 0.35), dpi=dpi,
                             squeeze=False)
    images = []
    for ax, clip, title in zip(axes[0], panels, titles):
        if clip.ndim == 4:
            images.append(ax.imshow(np.clip(clip[0], 0, 1)))
        else:
            images.append(ax.imshow(clip[0], cmap=cmap, vmin=vmin, vmax=vmax))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    label = fig.suptitle(f"frame 0 / {n_frames - 1}" if suptitle is None else f"{suptitle}: frame 0", fontsize=9)
    fig.tight_layout()

    def draw(k):
        for image, clip in zip(images, panels):
            image.set_data(np.clip(clip[k], 0, 1) if clip.ndim == 4 else clip[k])
        label.set_text(f"frame {k} / {n_frames - 1}" if suptitle is None else f"{suptitle}: frame {k}")
        return images + [label]

    anim = animation.FuncAnimation(fig, draw, frames=n_frames, interval=interval, blit=False)
    plt.close(fig)
    return anim


def animation_html(anim, frame_format="jpeg"):
    """Render an animation as a self-contained HTML player (``to_jshtml``), frames embedded.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        E.g. from :func:`animate_panels`.
    frame_format : {"jpeg", "png"}
        JPEG keeps pages light (a few tens of kB per second of animation);
        PNG is lossless.

    Returns
    -------
    str
        HTML with a ``<div class="animation">`` player; show it in a notebook
        with ``IPython.display.HTML``.

    Raises
    ------
    UserInputError
        When ``frame_format`` is neither "jpeg" nor "png".
    """
    import matplotlib

    if frame_format not in ("jpeg", "png"):
        raise UserInputError(f"frame_format must be 'jpeg' or 'png', got {frame_format!r}")
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        return anim.to_jshtml(default_mode="loop")
