"""Flow visualisation: the Middlebury colour coding with its legend, and arrow plots."""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["color_wheel", "flow_to_color", "plot_color_legend", "plot_arrows"]


def color_wheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al. 2011): 55 hues, red-yellow-green-cyan-blue-magenta.

    Returns
    -------
    ndarray, shape (55, 3), float in [0, 1]
    """
    segments = [(15, (1, 0, 0), (1, 1, 0)), (6, (1, 1, 0), (0, 1, 0)), (4, (0, 1, 0), (0, 1, 1)),
                (11, (0, 1, 1), (0, 0, 1)), (13, (0, 0, 1), (1, 0, 1)), (6, (1, 0, 1), (1, 0, 0))]
    rows = []
    for n, start, end in segments:
        t = np.arange(n)[:, None] / n
        rows.append((1 - t) * np.array(start) + t * np.array(end))
    return np.concatenate(rows)


def flow_to_color(flow, max_flow=None) -> np.ndarray:
    """Colour-code a flow field: hue is the direction, saturation the magnitude.

    Parameters
    ----------
    flow : array_like, shape (H, W, 2)
    max_flow : float, optional
        The magnitude shown fully saturated; by default the field's largest
        finite magnitude. Larger magnitudes are darkened.

    Returns
    -------
    ndarray, shape (H, W, 3), float in [0, 1]
        Non-finite vectors are black.

    Raises
    ------
    UserInputError
        A flow not of shape (H, W, 2), or a ``max_flow`` that is not a
        positive number.

    Examples
    --------
    >>> flow = np.zeros((2, 2, 2))
    >>> flow[0, 0] = (1.0, 0.0)                 # one vector to the right, the others still
    >>> rgb = flow_to_color(flow)
    >>> rgb.shape, rgb[1, 1].tolist()
    ((2, 2, 3), [1.0, 1.0, 1.0])
    """
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise UserInputError(f"flow must have shape (H, W, 2), got {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    bad = ~(np.isfinite(u) & np.isfinite(v))
    u = np.where(bad, 0, u)
    v = np.where(bad, 0, v)
    mag = np.hypot(u, v)
    if max_flow is None:
        max_flow = mag.max() if mag.max() > 0 else 1.0   # an all-zero field is white, whatever the scale
    elif not np.isscalar(max_flow) or not np.isfinite(max_flow) or max_flow <= 0:
        raise UserInputError(f"max_flow must be a positive number (the magnitude shown fully saturated), "
                             f"got {max_flow!r}")
    r = mag / max_flow
    wheel = color_wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    k = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(k).astype(int)
    k1 = (k0 + 1) % n
    f = (k - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]
    inside = (r <= 1)[..., None]
    col = np.where(inside, 1 - r[..., None] * (1 - col), col * 0.75)
    col[bad] = 0
    return np.clip(col, 0, 1)


def plot_color_legend(ax, size=101):
    """Draw the colour wheel as a legend: the colour of each displacement (x right, y down).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    size : int
    """
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    legend = flow_to_color(np.stack([xx, yy], -1), max_flow=1.0)
    legend[np.hypot(xx, yy) > 1] = 1
    ax.imshow(legend, extent=(-1, 1, 1, -1))
    ax.set_xlabel("u (right)")
    ax.set_ylabel("v (down)")
    ax.set_title("colour key")


def plot_arrows(ax, image, flow, step=8, scale=1.0, color="yellow", mask=None):
    """Arrows of a flow field over an image.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : ndarray, shape (H, W)
    flow : ndarray, shape (H, W, 2)
    step : int
        One arrow every ``step`` pixels.
    scale : float
        Arrow length per pixel of displacement (>1 magnifies small motion).
    color : str
    mask : ndarray of bool, shape (H, W), optional
        Where to draw arrows.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = flow[ys, xs, 0], flow[ys, xs, 1]
    keep = np.isfinite(u) & np.isfinite(v)
    if mask is not None:
        keep &= mask[ys, xs]
    ax.imshow(image, cmap="gray")
    ax.quiver(xs[keep], ys[keep], u[keep], v[keep], color=color, angles="xy", scale_units="xy",
              scale=1.0 / scale, width=0.004)
    ax.set_axis_off()
