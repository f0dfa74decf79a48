"""Motion magnification: Eulerian (linear), phase-based (complex steerable pyramid) and Riesz.

Chapters: ``book/05_eulerian_magnification.md``, ``book/06_steerable_pyramid.md``,
``book/07_phase_based_magnification.md``.

Order of operations: the course's pipeline resamples each clip to 8 frames
(``mer_lib.data.prepare_clip``) and then magnifies those frames; the paper
magnifies the video and then takes 8 frames. With the default reference-frame
"filter" the orders agree exactly for linear magnification (both steps are
linear); for phase-based magnification they differ, since interpolating two
magnified frames mixes two displaced patterns; chapter 7 measures by how much.
"""

from mer_lib.magnify.animate import animate_panels, animation_html
from mer_lib.magnify.common import collapse_laplacian, fft_workers, gaussian_pyramid, laplacian_pyramid
from mer_lib.magnify.eulerian import level_alphas, magnify_linear
from mer_lib.magnify.phase import magnify_phase, phase_bound, scale_wavelengths
from mer_lib.magnify.riesz import magnify_riesz, riesz_transform
from mer_lib.magnify.steerable import BANDWIDTHS, ComplexSteerablePyramid, steering_weights
from mer_lib.magnify.temporal import frequency_response

#: Magnifiers by name, as ``mer_lib.pipeline`` and the ``mer`` command accept them.
METHODS = {"phase": magnify_phase, "linear": magnify_linear, "riesz": magnify_riesz}

__all__ = ["ComplexSteerablePyramid", "BANDWIDTHS", "magnify_linear", "magnify_phase", "magnify_riesz",
           "gaussian_pyramid", "laplacian_pyramid", "collapse_laplacian", "level_alphas", "riesz_transform",
           "METHODS", "animate_panels", "animation_html", "steering_weights", "frequency_response", "fft_workers", "phase_bound",
           "scale_wavelengths"]
