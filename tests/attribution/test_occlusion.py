"""mer_lib.attribution.occlusion against direct computations: a linear softmax that sees one known region, drops recomputed by hand."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib import attribution as at  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from ._models import linear_softmax, numpy_probs, two_input_model  # noqa: E402


def test_occlusion_equals_a_direct_computation_and_is_zero_where_the_model_does_not_look(clip_model):
    model, w, b, mask = clip_model
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (2, 3, 8, 8, 1)).astype(np.float32)
    target = np.array([0, 2])
    got = at.occlusion_space(model, x, target, patch=2, stride=2)
    expected = np.zeros((2, 8, 8))
    for i in range(2):
        p0 = numpy_probs(x[i:i + 1], w, b, mask)[0, target[i]]
        for r in range(0, 8, 2):
            for c in range(0, 8, 2):
                y = x[i:i + 1].copy()
                y[:, :, r:r + 2, c:c + 2] = 0
                expected[i, r:r + 2, c:c + 2] = p0 - numpy_probs(y, w, b, mask)[0, target[i]]
    np.testing.assert_allclose(got, expected, atol=2e-6)
    seen = mask[0, :, :, 0] > 0
    covering = np.zeros((8, 8), bool)     # the 2x2 tiles that touch the seen region
    for r in range(0, 8, 2):
        for c in range(0, 8, 2):
            covering[r:r + 2, c:c + 2] = seen[r:r + 2, c:c + 2].any()
    assert np.all(np.abs(got[:, ~covering]) < 1e-6)     # float32 rounding of batches of different sizes
    assert np.all(np.abs(got[:, covering]) > 1e-6)


def test_overlapping_patches_average_the_drops_and_the_last_patch_reaches_the_edge(clip_model):
    model, w, b, mask = clip_model
    x = np.random.default_rng(2).normal(0, 1, (1, 3, 8, 8, 1)).astype(np.float32)
    got = at.occlusion_space(model, x, [1], patch=3, stride=2)     # starts 0, 2, 4 and 5 (the edge)
    p0 = numpy_probs(x, w, b, mask)[0, 1]
    total, count = np.zeros((8, 8)), np.zeros((8, 8))
    for r in (0, 2, 4, 5):
        for c in (0, 2, 4, 5):
            y = x.copy()
            y[:, :, r:r + 3, c:c + 3] = 0
            total[r:r + 3, c:c + 3] += p0 - numpy_probs(y, w, b, mask)[0, 1]
            count[r:r + 3, c:c + 3] += 1
    assert count.min() >= 1
    np.testing.assert_allclose(got[0], total / count, atol=2e-6)


def test_an_array_baseline_replaces_the_patch_with_its_own_values(clip_model):
    model, w, b, mask = clip_model
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (1, 3, 8, 8, 1)).astype(np.float32)
    # occluding with the input itself changes nothing
    np.testing.assert_allclose(at.occlusion_space(model, x, [0], patch=4, baseline=x), 0, atol=1e-7)
    onset = np.repeat(x[:, :1], 3, axis=1)
    got = at.occlusion_space(model, x, [0], patch=8, baseline=onset)
    expected = numpy_probs(x, w, b, mask)[0, 0] - numpy_probs(onset, w, b, mask)[0, 0]
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_occlusion_over_time_hides_the_named_groups():
    rng = np.random.default_rng(4)
    shape = (4, 3, 3, 1)
    mask = np.zeros(shape)
    mask[1] = 1                      # only time step 1 is seen
    model = linear_softmax(shape, rng.normal(0, 1, (36, 2)), np.zeros(2), mask, name="flow")
    x = rng.normal(0, 1, (2, 4, 3, 3, 1)).astype(np.float32)
    alone = at.occlusion_time(model, {"flow": x}, [0, 1], stream="flow")
    assert alone.shape == (2, 4)
    assert np.all(np.abs(alone[:, [0, 2, 3]]) < 1e-6) and np.all(np.abs(alone[:, 1]) > 1e-4)
    paired = at.occlusion_time(model, {"flow": x}, [0, 1], groups=[(0, 2), (1, 3)])
    np.testing.assert_allclose(paired[:, 1], alone[:, 1], atol=1e-7)
    np.testing.assert_allclose(paired[:, 0], 0, atol=1e-7)


def test_occluding_one_stream_leaves_the_other_as_it_was():
    keras.utils.set_random_seed(0)
    model = two_input_model()
    rng = np.random.default_rng(5)
    inputs = {"frames": rng.normal(size=(2, 2, 4, 4, 1)), "flow": rng.normal(size=(2, 4, 4, 4, 1))}
    got = at.occlusion_space(model, inputs, [0, 1], stream="flow", patch=2)
    p0 = model.predict_on_batch(inputs)
    for r, c in [(0, 0), (2, 2)]:
        y = {k: v.copy() for k, v in inputs.items()}
        y["flow"][:, :, r:r + 2, c:c + 2] = 0
        drop = p0[[0, 1], [0, 1]] - model.predict_on_batch(y)[[0, 1], [0, 1]]
        np.testing.assert_allclose(got[:, r, c], drop, atol=2e-6)
    with pytest.raises(UserInputError, match="stream"):
        at.occlusion_space(model, inputs, [0, 1], patch=2)
    with pytest.raises(UserInputError, match="stream"):
        at.occlusion_space(model, inputs, [0, 1], stream="flows", patch=2)


def test_occlusion_refuses_bad_arguments_in_one_line(clip_model):
    model = clip_model[0]
    x = np.zeros((2, 3, 8, 8, 1), np.float32)
    with pytest.raises(UserInputError, match="target"):
        at.occlusion_space(model, x, [0, 1, 2])
    with pytest.raises(UserInputError, match="patch"):
        at.occlusion_space(model, x, 0, patch=9)
    with pytest.raises(UserInputError, match="baseline"):
        at.occlusion_space(model, x, 0, baseline=np.zeros(5))
    with pytest.raises(UserInputError, match="groups"):
        at.occlusion_time(model, x, 0, groups=[(3,)])
    with pytest.raises(UserInputError, match="expected a clip stream"):
        at.occlusion_space(model, np.zeros((2, 8, 8)), 0)


