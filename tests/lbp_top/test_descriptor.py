"""mer_lib.lbp_top.descriptor against scikit-image's local_binary_pattern and SciPy's bilinear interpolation."""
import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

from mer_lib import lbp_top as L
from mer_lib.errors import UserInputError


def _skimage(image, n_points, radius, method):
    from skimage.feature import local_binary_pattern

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # its advice on float images: these are random, without near-ties
        return local_binary_pattern(image, n_points, radius, method).astype(int)


@pytest.mark.parametrize("method", L.METHODS)
@pytest.mark.parametrize("n_points, radius", [(4, 1), (8, 1), (8, 1.5), (8, 2), (12, 3), (16, 2)])
def test_lbp_2d_equals_skimage_on_the_interior_of_a_random_image(n_points, radius, method):
    image = np.random.default_rng(n_points * 10 + int(2 * radius)).random((17, 19))
    m = math.ceil(radius)
    ours = L.lbp_2d(image, n_points, radius, method)
    assert ours.shape == (17 - 2 * m, 19 - 2 * m)
    np.testing.assert_array_equal(ours, _skimage(image, n_points, radius, method)[m:-m, m:-m])


def _reference_lbp_top(volume, n_points, r, method):
    """Each plane's labels from skimage, slice by slice, on the common interior."""
    t, h, w = volume.shape
    xy = np.stack([_skimage(volume[k], n_points, r, method) for k in range(t)])
    xt = np.stack([_skimage(volume[:, y, :], n_points, r, method) for y in range(h)], axis=1)
    yt = np.stack([_skimage(volume[:, :, x], n_points, r, method) for x in range(w)], axis=2)
    m = math.ceil(r)
    return [p[m:-m, m:-m, m:-m] for p in (xy, xt, yt)]


@pytest.mark.parametrize("method", L.METHODS)
@pytest.mark.parametrize("n_points, r", [(8, 1), (8, 2), (4, 1.5)])
def test_lbp_top_equals_skimage_applied_to_every_plane_of_a_random_volume(n_points, r, method):
    volume = np.random.default_rng(7).random((9, 14, 16))
    ours = L.lbp_top(volume, n_points, (r, r, r), method)
    for plane, ref in zip(ours, _reference_lbp_top(volume, n_points, r, method)):
        np.testing.assert_array_equal(plane, ref)


def test_lbp_top_histograms_equal_block_histograms_built_from_skimage_per_plane():
    volume = np.random.default_rng(11).random((8, 23, 21))
    grid, bins = (3, 4), L.n_labels(8, "nri_uniform")
    ours = L.lbp_top_histograms(volume, grid=grid, n_points=8, radii=(1, 1, 1))
    assert ours.shape == (3, 3, 4, bins)
    for k, plane in enumerate(_reference_lbp_top(volume, 8, 1, "nri_uniform")):
        t, h, w = plane.shape
        rows = np.round(np.linspace(0, h, grid[0] + 1)).astype(int)
        cols = np.round(np.linspace(0, w, grid[1] + 1)).astype(int)
        for i in range(grid[0]):
            for j in range(grid[1]):
                counts, _ = np.histogram(plane[:, rows[i]:rows[i + 1], cols[j]:cols[j + 1]], bins=np.arange(bins + 1))
                np.testing.assert_allclose(ours[k, i, j], counts / counts.sum(), rtol=0, atol=1e-15)


def test_elliptical_neighbourhoods_equal_scipys_bilinear_interpolation():
    # R_X = 2 pixels, R_Y = 1 pixel, R_T = 1.5 frames: no circle, so skimage cannot be the reference
    volume = np.random.default_rng(3).random((7, 12, 13))
    rx, ry, rt = 2.0, 1.0, 1.5
    ours = L.lbp_top(volume, 8, (rx, ry, rt), "default")
    mt, my, mx = math.ceil(rt), math.ceil(ry), math.ceil(rx)
    t, y, x = np.meshgrid(np.arange(mt, 7 - mt), np.arange(my, 12 - my), np.arange(mx, 13 - mx), indexing="ij")
    centre = volume[t, y, x]
    angle = 2 * np.pi * np.arange(8) / 8
    planes = {"xy": (0 * angle, -ry * np.sin(angle), rx * np.cos(angle)),
              "xt": (-rt * np.sin(angle), 0 * angle, rx * np.cos(angle)),
              "yt": (-rt * np.sin(angle), ry * np.cos(angle), 0 * angle)}
    for k, name in enumerate(L.PLANES):
        dt, dy, dx = planes[name]
        code = np.zeros(centre.shape, int)
        for p in range(8):
            sample = ndimage.map_coordinates(volume, [t + dt[p], y + dy[p], x + dx[p]], order=1)
            code |= (sample >= centre).astype(int) << p
        np.testing.assert_array_equal(ours[k], code, err_msg=name)


def test_pattern_labels_count_the_uniform_patterns_as_derived():
    for p in (4, 8, 12):
        codes = np.arange(2 ** p)
        uniform = L.transitions(codes, p) <= 2
        assert uniform.sum() == p * (p - 1) + 2                     # P(P - 1) runs + all zeros + all ones
        nri = L.pattern_labels(p, "nri_uniform")
        assert len(np.unique(nri[uniform])) == uniform.sum()        # every uniform pattern has its own label
        assert np.all(nri[~uniform] == p * (p - 1) + 2) and nri.max() + 1 == L.n_labels(p, "nri_uniform")
        riu = L.pattern_labels(p, "uniform")
        rotated = ((codes << 1) | (codes >> (p - 1))) & (2 ** p - 1)
        np.testing.assert_array_equal(riu, riu[rotated])            # rotation invariant
        assert riu.max() + 1 == L.n_labels(p, "uniform")


def test_codes_are_unchanged_by_an_increasing_affine_change_of_grey_levels():
    volume = np.random.default_rng(5).random((6, 10, 10))
    np.testing.assert_array_equal(L.lbp_top(volume), L.lbp_top(3.0 * volume + 0.25))


def test_a_static_clip_gives_xt_and_yt_codes_symmetric_in_time():
    # V(t, y, x) = I(y, x): neighbours p and P - p see the same pixel at mirrored times, so their bits agree
    frame = np.random.default_rng(9).random((20, 20))
    codes = L.lbp_top(np.repeat(frame[None], 6, axis=0), 8, (1, 1, 1), "default")
    bits = (codes[..., None] >> np.arange(8)) & 1
    mirrored = bits[..., (-np.arange(8)) % 8]
    assert np.array_equal(bits[1:], mirrored[1:])                   # XT and YT
    assert not np.array_equal(bits[0], mirrored[0])                 # XY is not symmetric
    moving = np.stack([np.roll(frame, k, axis=1) for k in range(6)])  # 1 pixel per frame along x
    bits_moving = (L.lbp_top(moving, 8, (1, 1, 1), "default")[1][..., None] >> np.arange(8)) & 1
    assert not np.array_equal(bits_moving, bits_moving[..., (-np.arange(8)) % 8])


def test_constant_input_gives_the_all_ones_pattern_despite_rounding():
    flat = np.full((5, 9, 9), 1 / 3)
    assert np.all(L.lbp_top(flat, 8, (1.5, 1.5, 1.5), "default") == 255)


def test_block_histograms_sum_to_one_and_cover_every_pixel():
    labels = np.random.default_rng(0).integers(0, 10, (3, 11, 7))
    h = L.block_histograms(labels, 10, (4, 3))
    np.testing.assert_allclose(h.sum(axis=2), 1.0)
    edges = L.block_edges(11, 4)
    assert edges[0] == 0 and edges[-1] == 11 and np.all(np.diff(edges) >= 2)
    counts = h * (3 * np.diff(edges)[:, None, None] * np.diff(L.block_edges(7, 3))[None, :, None])
    np.testing.assert_allclose(counts.sum(axis=(0, 1)), np.bincount(labels.ravel(), minlength=10))


def test_plane_features_select_planes_in_order():
    hist = np.random.default_rng(1).random((2, 3, 2, 2, 5))
    np.testing.assert_array_equal(L.plane_features(hist, ("yt", "xy")),
                                  np.concatenate([hist[:, 2].reshape(2, -1), hist[:, 0].reshape(2, -1)], axis=1))


@pytest.mark.parametrize("call, match", [
    (lambda: L.lbp_2d(np.zeros((2, 2))), "image"),
    (lambda: L.lbp_2d(np.zeros((5, 5)), n_points=0), "n_points"),
    (lambda: L.lbp_2d(np.zeros((5, 5)), method="riu2"), "method"),
    (lambda: L.lbp_2d(np.zeros((5, 5)), radius=-1), "radius"),
    (lambda: L.lbp_top(np.zeros((5, 5))), "volume"),
    (lambda: L.lbp_top(np.zeros((2, 9, 9))), "volume"),
    (lambda: L.lbp_top(np.full((5, 9, 9), np.nan)), "volume"),
    (lambda: L.lbp_top(np.zeros((5, 9, 9)), radii=(1, 1)), "radii"),
    (lambda: L.block_histograms(np.zeros((4, 4), int), 3, (5, 1)), "grid"),
    (lambda: L.block_histograms(np.full((4, 4), 3), 3), "labels"),
    (lambda: L.plane_features(np.zeros((1, 3, 1, 1, 2)), ("xz",)), "planes"),
])
def test_bad_input_is_a_one_line_user_input_error_naming_the_argument(call, match):
    with pytest.raises(UserInputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
