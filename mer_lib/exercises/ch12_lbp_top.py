"""Exercises of chapter 12, LBP-TOP (book/12_lbp_top.md).

The references are independent of ``mer_lib.lbp_top``: scikit-image's
``local_binary_pattern`` for the codes, plain loops for the block histograms,
the formula for the corrected t statistic.
"""

import math
import warnings

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def lbp_codes(image, n_points=8, radius=1.0):
    """Raw LBP codes (bit p: neighbour p >= centre) of the pixels whose whole circle lies inside the image.

    image (H, W) -> (H - 2 ceil(R), W - 2 ceil(R)) int; computed with scikit-image and cropped.
    """
    from skimage.feature import local_binary_pattern

    image = np.asarray(image, dtype=float)
    m = math.ceil(radius)
    with warnings.catch_warnings():   # skimage warns about float images; these have no near-ties
        warnings.simplefilter("ignore")
        codes = local_binary_pattern(image, n_points, radius, method="default")
    return codes[m:image.shape[0] - m, m:image.shape[1] - m].astype(int)


def _codes_cases():
    rng = np.random.default_rng(1207)
    ramp = np.tile(np.arange(9.0), (8, 1)) + 0.1 * np.arange(8.0)[:, None] ** 2
    return [Case("a random 6x7 image, P=8, R=1", (rng.random((6, 7)), 8, 1.0)),
            Case("a constant image, P=4, R=1", (np.full((5, 5), 0.5), 4, 1.0)),
            Case("a ramp rising to the right and downwards, P=4, R=2", (ramp, 4, 2.0)),
            Case("a random 9x10 image, P=8, R=1.5 (neighbours between pixels)", (rng.random((9, 10)), 8, 1.5)),
            Case("a random 12x11 image, P=12, R=3", (rng.random((12, 11)), 12, 3.0))]


register(Exercise(
    "lbp_top.lbp_codes", _codes_cases, lbp_codes, rtol=0, atol=0,
    advice={"a random 6x7 image, P=8, R=1": "which pixels have a whole circle inside the image? The output "
                                            "is smaller than the image by the radius, rounded up, on every side.",
            "a constant image, P=4, R=1": "a neighbour equal to the centre: is s(0) a 0 or a 1?",
            "a ramp rising to the right and downwards, P=4, R=2":
                "where is neighbour 1 when rows grow downwards and angles turn counter-clockwise from the right? "
                "Which bit does neighbour p set?",
            "a random 9x10 image, P=8, R=1.5 (neighbours between pixels)":
                "a neighbour that falls between pixels is read from the four pixels around it, weighted by "
                "how close it is to each.",
            "a random 12x11 image, P=12, R=3": "does your code use n_points and radius, or 8 and 1?"}))


def block_histogram(labels, n_bins, grid):
    """Normalised label histograms in a grid of blocks, frames pooled: (grid[0], grid[1], n_bins).

    Block b along an axis of n pixels holds pixels round(n b / B) .. round(n (b + 1) / B) - 1.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    rows = [round(labels.shape[1] * b / grid[0]) for b in range(grid[0] + 1)]
    cols = [round(labels.shape[2] * b / grid[1]) for b in range(grid[1] + 1)]
    out = np.zeros((grid[0], grid[1], n_bins))
    for i in range(grid[0]):
        for j in range(grid[1]):
            block = labels[:, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].ravel()
            counts, _ = np.histogram(block, bins=np.arange(n_bins + 1))
            out[i, j] = counts / counts.sum()
    return out


def _hist_cases():
    rng = np.random.default_rng(59)
    return [Case("10x10 labels in 3x3 blocks (blocks of 3, 4 and 3 pixels)", (rng.integers(0, 5, (10, 10)), 5, (3, 3))),
            Case("labels of 4 frames, (4, 6, 8), in 2x2 blocks", (rng.integers(0, 10, (4, 6, 8)), 10, (2, 2))),
            Case("labels that never reach the last bins", (rng.integers(0, 3, (6, 6)), 8, (2, 3))),
            Case("one block", (rng.integers(0, 59, (7, 9)), 59, (1, 1)))]


register(Exercise(
    "lbp_top.block_histogram", _hist_cases, block_histogram,
    advice={"10x10 labels in 3x3 blocks (blocks of 3, 4 and 3 pixels)":
                "ten pixels do not split into three equal blocks: use the chapter's rule for the block edges "
                "(the pixel nearest to n b / B).",
            "labels of 4 frames, (4, 6, 8), in 2x2 blocks": "a block's histogram counts the pixels of every "
                                                            "frame, not of one.",
            "labels that never reach the last bins": "a histogram has n_bins bins even when some labels never "
                                                     "occur.",
            "one block": "each block's histogram is a share of its pixels: it sums to 1."}))


def corrected_t(differences, n_train, n_test):
    """Nadeau and Bengio's corrected t statistic of J paired differences over random splits."""
    d = np.asarray(differences, dtype=float)
    j = len(d)
    return float(d.mean() / math.sqrt((1 / j + n_test / n_train) * d.var(ddof=1)))


def _t_cases():
    return [Case("5 differences, 131 training and 33 test clips", (np.array([0.05, 0.12, -0.02, 0.08, 0.03]), 131, 33)),
            Case("2 differences", (np.array([0.10, 0.04]), 131, 33)),
            Case("10 differences, half the clips tested", (np.linspace(-0.05, 0.15, 10), 82, 82))]


register(Exercise(
    "lbp_top.corrected_t", _t_cases, corrected_t,
    advice={"5 differences, 131 training and 33 test clips":
                "the variance of the differences is the sample variance (divide by J - 1), and the correction "
                "adds to 1/J rather than replacing it.",
            "2 differences": "with two splits the variance still divides by J - 1 = 1.",
            "10 differences, half the clips tested": "is the ratio n_test / n_train, or n_test / (all clips)?"}))
