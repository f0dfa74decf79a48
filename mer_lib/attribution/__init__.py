"""Where a network looks: occlusion sensitivity, integrated gradients and Grad-CAM, from scratch.

Chapter ``book/14_where_the_network_looks.md`` derives every method and checks
it against a reference that can fail. Three ways to ask a trained classifier
which parts of its input its answer rests on:

- :func:`occlusion_space` and :func:`occlusion_time` (Zeiler and Fergus, ECCV
  2014): replace a patch of one input stream, or some of its time steps, by a
  baseline and record how much the probability of a class falls;
- :func:`integrated_gradients` (Sundararajan, Taly and Yan, ICML 2017): the
  gradient of that probability averaged along the straight path from a
  baseline input to the input, times their difference; the attributions add
  up to the difference of the model's outputs at the two ends (completeness);
- :func:`grad_cam` (Selvaraju et al., ICCV 2017): the activations of a
  convolution layer weighted by the spatially averaged gradient of the class
  score, summed over its filters and rectified.

And what SynthME makes possible: measuring a map against the ground truth.
:func:`true_displacement` and :func:`moving_region` give the region of each
clip that the expression really moved; :func:`inside_share` the share of a
map's positive mass that falls in it; :func:`random_share` the share that a
map ignoring the clip gets (the region's area, by symmetry);
:func:`share_summary` per class, over clips, with bootstrap intervals.

Every function takes any Keras model and its inputs: one array, or a dict of
arrays keyed by the model's input names (``{"frames", "flow"}`` for the
two-stream network), N examples first. The model must return class
probabilities. Occlusion only calls the model, so it runs under every Keras
backend; the gradient methods need one gradient, which :func:`gradients`
computes under TensorFlow, JAX or PyTorch.

Layouts. An input stream of rank 5, (N, T, H, W, C), is a clip: time on axis
1, space on axes 2 and 3. Rank 4, (N, H, W, C), is an image (the shallow
apex networks' input). Spatial occlusion covers every time step and channel;
temporal occlusion every pixel.

Modules: :mod:`._base` (inputs, :func:`gradients`, :func:`class_scores`),
:mod:`.occlusion`, :mod:`.gradient_maps` (integrated gradients, Grad-CAM,
:func:`spatial_map`), :mod:`.ground_truth` (SynthME's moving regions and the
inside-region share).
"""

from mer_lib.attribution._base import SCORES, class_scores, gradients
from mer_lib.attribution.gradient_maps import (IntegratedGradients, completeness_by_steps, grad_cam,
                                               integrated_gradients, riemann_alphas, spatial_map)
from mer_lib.attribution.ground_truth import (inside_share, moving_region, random_share, share_summary,
                                              true_displacement)
from mer_lib.attribution.occlusion import occlusion_space, occlusion_time

__all__ = ["gradients", "class_scores", "occlusion_space", "occlusion_time", "integrated_gradients",
           "IntegratedGradients", "completeness_by_steps", "riemann_alphas", "grad_cam", "spatial_map",
           "true_displacement", "moving_region", "inside_share", "random_share", "share_summary", "SCORES"]
