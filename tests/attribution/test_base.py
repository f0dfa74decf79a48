"""mer_lib.attribution._base: gradients against central finite differences, logits against the softmax."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from mer_lib import attribution as at  # noqa: E402
from mer_lib.attribution._base import _target_sum  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402
from ._models import small_conv_net, softmax  # noqa: E402


def test_gradients_agree_with_central_finite_differences():
    model = small_conv_net()
    x = np.random.default_rng(6).normal(size=(2, 3, 6, 6, 1))

    def f(arrays):
        return at.class_scores(model, arrays, "probability")[:, 1].sum()

    g = at.gradients(lambda t: _target_sum(model(t["x"], training=False), np.array([1, 1])),
                     {"x": x.astype(np.float32)})["x"]
    rng = np.random.default_rng(7)
    for _ in range(6):
        idx = tuple(int(rng.integers(0, s)) for s in x.shape)
        h = 1e-2
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        fd = (f(up) - f(down)) / (2 * h)
        assert abs(g[idx] - fd) < 1e-3 * max(1.0, abs(fd)), (idx, g[idx], fd)


def test_logits_are_the_dense_output_before_the_softmax():
    model = small_conv_net(1)
    x = np.random.default_rng(8).normal(size=(3, 3, 6, 6, 1))
    logits = at.class_scores(model, x, "logit")
    np.testing.assert_allclose(softmax(logits), at.class_scores(model, x), atol=1e-5)
    model_without = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Softmax()])
    with pytest.raises(UserInputError, match="logit"):
        at.class_scores(model_without, np.zeros((1, 4)), "logit")


