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


def initial_loss_uniform(n_classes):
    """The cross-entropy of a model that predicts every class with probability 1/K, whatever the label."""
    return float(-math.log(1.0 / n_classes))


register(Exercise("training.initial_loss_uniform",
                  lambda: [Case("3 classes (the paper's)", (3,)), Case("5 classes (CASME II's)", (5,)),
                           Case("2 classes", (2,))],
                  initial_loss_uniform,
                  advice={"3 classes (the paper's)": "the loss of one clip is -log(probability given to its true "
                                                     "class); every class gets 1/K."}))


def flip_flow_clip(flow):
    """Mirror a flow stream input left-right: (2T, H, W, 1), T horizontal then T vertical maps.

    A mirrored face moves the mirrored way: the horizontal maps are flipped and negated, the
    vertical maps only flipped.
    """
    from mer_lib.train import flip_horizontal

    return flip_horizontal(np.asarray(flow), "flow")


def _flip_cases():
    rng = np.random.default_rng(10)
    rightward = np.zeros((2, 1, 4, 1))
    rightward[0, 0, 1] = 1.0                  # one pixel moving right (u > 0), no vertical motion
    return [Case("one pixel moving right", (rightward,)),
            Case("a 16-map flow input of 6x5", (rng.normal(size=(16, 6, 5, 1)),)),
            Case("an 8-map flow input of 4x4", (rng.normal(size=(8, 4, 4, 1)),))]


register(Exercise("training.flip_flow_clip", _flip_cases, flip_flow_clip,
                  advice={"one pixel moving right": "after mirroring, the pixel sits at the mirrored column and "
                                                    "moves left: its u changes sign.",
                          "a 16-map flow input of 6x5": "only the first half of the maps (u) changes sign; the "
                                                        "second half (v) is only mirrored. Mirror along W, the "
                                                        "third axis."}))


def collapsed(history, predictions, n_classes):
    """Whether a finished run collapsed: one class predicted for every clip, or a last training loss above ln K."""
    from mer_lib.diagnostics import detect_collapse

    return bool(detect_collapse({"loss": list(history["loss"])}, n_classes, predictions, after=1))


register(Exercise("training.collapsed",
                  lambda: [Case("a healthy run", ({"loss": [1.1, 0.9, 0.6, 0.4]}, np.array([0, 1, 2, 1, 0]), 3)),
                           Case("one class for every clip", ({"loss": [1.1, 1.0, 0.9]}, np.array([2, 2, 2, 2]), 3)),
                           Case("a loss that ended above ln 3", ({"loss": [8.8, 3.0, 1.3]}, np.array([0, 1, 2]), 3)),
                           Case("a loss between ln 2 and ln 3 with 3 classes",
                                ({"loss": [2.0, 1.0]}, np.array([0, 1, 2]), 3))],
                  collapsed,
                  advice={"a loss that ended above ln 3": "a model that predicts 1/3 for every class has loss "
                                                          "ln 3; a trained model above that is worse than guessing.",
                          "a loss between ln 2 and ln 3 with 3 classes": "compare with ln K for the number of "
                                                                         "classes given, not a fixed number."}))


def run_epochs_per_second_limit(macs_per_clip, clips_per_epoch, peak_flops):
    """How many run-epochs per second a device's peak arithmetic allows.

    A training step costs about 6 FLOPs per multiply-add of the forward pass of each clip: 2 FLOPs per
    multiply-add, and a backward pass that costs about twice the forward pass.
    """
    return float(peak_flops) / (6.0 * float(macs_per_clip) * float(clips_per_epoch))


register(Exercise("training.run_epochs_per_second_limit",
                  lambda: [Case("the two-stream network on an H100 (0.44 G multiply-adds, 131 clips, 989 TFLOP/s)",
                                (0.44e9, 131, 989e12)),
                           Case("a small model on a CPU (2 M multiply-adds, 100 clips, 100 GFLOP/s)",
                                (2e6, 100, 100e9))],
                  run_epochs_per_second_limit, rtol=1e-6,
                  advice={"the two-stream network on an H100 (0.44 G multiply-adds, 131 clips, 989 TFLOP/s)":
                          "count FLOPs, not multiply-adds (2 per multiply-add), and the backward pass, which costs "
                          "about twice the forward one: 6 FLOPs per multiply-add per clip."}))
