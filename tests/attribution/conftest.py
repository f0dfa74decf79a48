import numpy as np
import pytest


@pytest.fixture(scope="module")
def clip_model():
    """A linear softmax over clips (T, H, W, 1) = (3, 8, 8, 1) that sees only rows 2-3 and columns 4-6."""
    rng = np.random.default_rng(0)
    shape = (3, 8, 8, 1)
    mask = np.zeros(shape)
    mask[:, 2:4, 4:7] = 1
    w = rng.normal(0, 1.0, (int(np.prod(shape)), 3))
    b = rng.normal(0, 0.1, 3)
    from ._models import linear_softmax

    return linear_softmax(shape, w, b, mask), w, b, mask


