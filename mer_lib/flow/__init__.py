"""Optical flow from first principles: Horn-Schunck, TV-L1, and the reference wrappers.

One convention everywhere: a flow has shape (H, W, 2), ``flow[..., 0]``
horizontal and ``flow[..., 1]`` vertical displacement in pixels, with
``frame1(x + flow(x)) ~ frame0(x)``, as OpenCV's ``calc(prev, next)``.

Chapters: ``book/02_optical_flow_theory.md``, ``book/03_horn_schunck.md``,
``book/04_tvl1.md``.
"""

from mer_lib.flow.common import (coarse_to_fine, gradient_centered, warp, warp_bicubic, warp_bilinear, zoom_pyramid)
from mer_lib.flow.metrics import angular_error, endpoint_error, endpoint_error_map
from mer_lib.flow.horn_schunck import horn_schunck, hs_update
from mer_lib.flow.reference import OPENCV_FAST, opencv_tvl1, skimage_tvl1
from mer_lib.flow.tvl1 import threshold_step, tvl1
from mer_lib.flow.viz import color_wheel, flow_to_color, plot_arrows, plot_color_legend

#: Flow methods by name, as ``mer_lib.pipeline`` and the ``mer`` command accept them.
METHODS = {"tvl1": tvl1, "horn_schunck": horn_schunck, "opencv": opencv_tvl1, "skimage": skimage_tvl1}

__all__ = ["tvl1", "horn_schunck", "opencv_tvl1", "skimage_tvl1", "OPENCV_FAST", "endpoint_error",
           "endpoint_error_map", "angular_error", "warp", "warp_bilinear", "warp_bicubic", "zoom_pyramid",
           "coarse_to_fine",
           "gradient_centered", "threshold_step", "hs_update", "flow_to_color", "color_wheel",
           "plot_color_legend", "plot_arrows", "METHODS"]
