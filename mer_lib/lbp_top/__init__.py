"""LBP-TOP: local binary patterns on three orthogonal planes, and a linear SVM on them.

The hand-crafted baseline that micro-expression recognition started from
(Pfister et al., ICCV 2011), after Zhao & Pietikäinen's descriptor of dynamic
textures (IEEE TPAMI 29(6), 2007). Chapter ``book/12_lbp_top.md`` explains it.

- :mod:`mer_lib.lbp_top.descriptor`: codes and labels of one plane
  (:func:`lbp_2d`) and of the three planes of a clip (:func:`lbp_top`), block
  histograms over an aligned face (:func:`block_histograms`,
  :func:`lbp_top_histograms`), written from scratch and tested against
  scikit-image's ``local_binary_pattern``.
- :mod:`mer_lib.lbp_top.svm`: a linear SVM (:class:`LinearSVM`) whose C is
  chosen by nested validation on the training side only (:func:`fit_svm`), run
  under the paper's split, leave-one-subject-out or subject folds
  (:func:`run_protocol`). scikit-learn is imported inside those functions only.
"""

from mer_lib.lbp_top.descriptor import (METHODS, PLANES, block_edges, block_histograms, circle_offsets, lbp_2d,
                                        lbp_top, lbp_top_histograms, n_labels, pattern_labels, plane_features,
                                        transitions)
from mer_lib.lbp_top.svm import DEFAULT_CS, LinearSVM, fit_svm, run_protocol

__all__ = ["METHODS", "PLANES", "circle_offsets", "transitions", "pattern_labels", "n_labels", "lbp_2d", "lbp_top",
           "block_edges", "block_histograms", "lbp_top_histograms", "plane_features", "DEFAULT_CS", "LinearSVM",
           "fit_svm", "run_protocol"]
