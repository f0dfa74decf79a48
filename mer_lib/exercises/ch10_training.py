"""Exercises of chapter 10, training on a GPU (book/10_training_on_a_gpu.md)."""

import math

import numpy as np

from mer_lib.exercises import Case, Exercise, register
from mer_lib.train import class_weights


def batches_per_epoch(n_examples, batch_size):
    """Optimiser steps in one epoch: the last batch may be smaller."""
    return math.ceil(n_examples / batch_size)


register(Exercise("training.batches_per_epoch",
                  lambda: [Case("131 clips, batch 8 (the paper's training set)", (131, 8)),
                           Case("16 clips, batch 8", (16, 8)), Case("5 clips, batch 8", (5, 8))],
                  batches_per_epoch,
                  advice={"131 clips, batch 8 (the paper's training set)": "the last, smaller batch counts too: "
                                                                          "round up."}))


def balanced_class_weights(labels, n_classes):
    """Weights n / (K * n_c) for each class c, as a dict {c: weight}; 0 for an absent class."""
    return class_weights(labels, n_classes)


register(Exercise("training.balanced_class_weights",
                  lambda: [Case("the paper's Table 2 counts", (np.repeat([0, 1, 2], [67, 69, 28]), 3)),
                           Case("a class with no example", (np.array([0, 0, 1]), 3))],
                  balanced_class_weights,
                  compare=lambda got, exp, case: None if isinstance(got, dict) and set(got) == set(exp) and all(
                      abs(got[k] - exp[k]) < 1e-9 for k in exp) else f"expected {exp}, got {got}",
                  advice={"a class with no example": "avoid dividing by zero: give an absent class weight 0."}))


def flow_stream_input(u, v):
    """The flow stream's input: T horizontal maps then T vertical maps, with a channel axis.

    u, v: (T, H, W) -> (2T, H, W, 1)
    """
    return np.concatenate([np.asarray(u), np.asarray(v)], axis=0)[..., None].astype(np.float32)


def _stream_cases():
    rng = np.random.default_rng(14)
    return [Case("8 maps of 64x64", tuple(rng.random((2, 8, 64, 64)))),
            Case("3 maps of 4x5", tuple(rng.random((2, 3, 4, 5))))]


register(Exercise("training.flow_stream_input", _stream_cases, flow_stream_input,
                  advice={"3 maps of 4x5": "all horizontal maps first, then all vertical ones (not interleaved), "
                                           "then a channel axis of 1."}))
