"""After the network: the apex frame, its spotting, onset-apex flow and strain, and a shallow network.

- :mod:`mer_lib.apex.spotting`: which frame is the apex (the frame of largest
  motion from the onset, once brightness changes and the head's affine
  motion are taken out), measured against SynthME's true apex or a
  database's annotated apex (:func:`spotting_report`);
- :mod:`mer_lib.apex.strain`: optical strain, the symmetric part of the flow's gradient;
- :mod:`mer_lib.apex.inputs`: onset-apex TV-L1 flow and strain as a 28 x 28 x 3 input;
- :mod:`mer_lib.apex.shallow`: a shallow three-stream network after STSTNet, and
  a trainer for many copies at once;
- :mod:`mer_lib.apex.experiment`: the network trained under the paper's split and
  leave-one-subject-out with many seeds, its results reusable (chapter 14
  reads its trained models and their test clips).

Chapter ``book/13_apex_frame.md`` explains all of it.
"""

from mer_lib.apex.experiment import ShallowResults, train_shallow
from mer_lib.apex.inputs import CHANNELS, ApexInputs, apex_inputs, onset_apex_flow, true_motion
from mer_lib.apex.shallow import (FILTERS, RECIPE, CopiesRun, ShallowCopies, copy_to_model, predict_copies,
                                  shallow_net, train_copies)
from mer_lib.apex.spotting import (FLOWS, affine_motion, curve_from_flows, expected_random_error, farneback,
                                   match_brightness, median_interval, motion_curve, random_frame_errors,
                                   remove_affine_motion, spot_apex, spot_apexes, spot_from_flows, spotting_report,
                                   summarize_spotting)
from mer_lib.apex.strain import optical_strain, strain_components

__all__ = ["match_brightness", "affine_motion", "remove_affine_motion", "farneback", "FLOWS", "motion_curve",
           "curve_from_flows", "spot_apex", "spot_apexes",
           "spot_from_flows", "expected_random_error", "random_frame_errors", "median_interval",
           "spotting_report", "summarize_spotting", "strain_components", "optical_strain", "CHANNELS", "ApexInputs",
           "apex_inputs", "onset_apex_flow", "true_motion", "FILTERS", "RECIPE", "shallow_net", "ShallowCopies",
           "train_copies", "predict_copies", "copy_to_model", "CopiesRun", "train_shallow", "ShallowResults"]
