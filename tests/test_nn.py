import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib.nn import (conv3d, conv3d_loops, conv3d_macs, layer_macs, max_pool3d, max_pool3d_loops,
                        output_length, same_padding)

RNG = np.random.default_rng(1234)


def _random_case(rng):
    shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(3, 9, size=3)), int(rng.integers(1, 4)))
    kernel = tuple(int(rng.integers(1, min(4, n) + 1)) for n in shape[1:4])
    strides = tuple(int(v) for v in rng.integers(1, 3, size=3))
    return shape, kernel, strides


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv3d_equals_keras_conv3d(seed, padding):
    rng = np.random.default_rng(seed)
    shape, ksize, strides = _random_case(rng)
    filters = int(rng.integers(1, 5))
    x = rng.standard_normal(shape).astype(np.float32)
    layer = keras.layers.Conv3D(filters, ksize, strides=strides, padding=padding)
    expected = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    bias = rng.standard_normal(bias.shape).astype(np.float32)
    layer.set_weights([kernel, bias])
    expected = keras.ops.convert_to_numpy(layer(x))
    got = conv3d(x, kernel, bias, strides=strides, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool3d_equals_keras_maxpooling3d(seed, padding):
    rng = np.random.default_rng(100 + seed)
    shape, pool, strides = _random_case(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    use_strides = None if seed % 2 else strides
    expected = keras.ops.convert_to_numpy(
        keras.layers.MaxPooling3D(pool, strides=use_strides, padding=padding)(x))
    got = max_pool3d(x, pool, strides=use_strides, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_loop_and_vectorised_versions_agree(padding):
    x = RNG.standard_normal((2, 5, 6, 7, 3))
    k = RNG.standard_normal((3, 2, 4, 3, 4))
    b = RNG.standard_normal(4)
    for strides in (1, 2, (1, 2, 3)):
        np.testing.assert_allclose(conv3d(x, k, b, strides, padding), conv3d_loops(x, k, b, strides, padding),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(max_pool3d(x, (2, 3, 2), strides, padding),
                                      max_pool3d_loops(x, (2, 3, 2), strides, padding))


def test_conv3d_is_a_cross_correlation_not_a_convolution():
    x = np.zeros((1, 1, 1, 3, 1))
    x[0, 0, 0, :, 0] = [1, 2, 3]
    k = np.array([1.0, 0.0, 0.0]).reshape(1, 1, 3, 1, 1)
    assert conv3d(x, k).item() == 1.0  # no flip: the kernel's first tap meets the first sample


def test_keras_documentation_example_shape():
    assert conv3d(np.ones((4, 28, 28, 28, 1), np.float32), np.ones((3, 3, 3, 1, 2), np.float32)).shape \
        == (4, 26, 26, 26, 2)


def test_output_length_and_same_padding_follow_tensorflow():
    assert output_length(64, 3, 3, "valid") == 21 and output_length(8, 3, 3, "valid") == 2
    assert output_length(7, 3, 2, "same") == 4
    assert same_padding(7, 3, 2) == (1, 1) and same_padding(8, 3, 2) == (0, 1) and same_padding(8, 15, 1) == (7, 7)


def test_macs_count_of_the_papers_convolution_and_of_keras_layers():
    # 64*64*8 outputs x 32 filters x 3*3*15 taps x 1 channel
    assert conv3d_macs((64, 64, 8, 1), 32, (3, 3, 15), padding="same") == 64 * 64 * 8 * 32 * 135
    inp = keras.Input((6, 6, 6, 2))
    conv = keras.layers.Conv3D(4, 3)
    dense = keras.layers.Dense(5)
    dense(keras.layers.Flatten()(conv(inp)))
    assert layer_macs(conv) == conv3d_macs((6, 6, 6, 2), 4, 3) == 4 * 4 * 4 * 4 * 27 * 2
    assert layer_macs(dense) == 4 * 4 * 4 * 4 * 5


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((2, 3, 3, 3))), r"\(N, D, H, W, C\)"),
    (dict(kernel=np.zeros((3, 3, 3, 2, 1))), "input channels"),
    (dict(padding="full"), "padding"),
    (dict(strides=0), "strides"),
    (dict(kernel=np.zeros((5, 1, 1, 1, 1))), "exceeds"),
    (dict(bias=np.zeros(3)), "bias"),
])
def test_conv3d_rejects_bad_input_with_a_clear_message(bad, match):
    args = dict(x=np.zeros((1, 4, 4, 4, 1)), kernel=np.zeros((3, 3, 3, 1, 2)), bias=None, strides=1,
                padding="valid")
    args.update(bad)
    with pytest.raises((ValueError, TypeError), match=match):
        conv3d(**args)


def test_max_pool3d_rejects_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match="pool size"):
        max_pool3d(np.zeros((1, 2, 4, 4, 1)), 3)
