"""Small Keras models whose attributions are known in closed form or by a direct computation."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

def linear_softmax(input_shape, weights, bias, mask=None, name="input"):
    """Flatten -> Dense(softmax) with given weights; ``mask`` (the input's shape) zeroes what it does not see."""
    x = keras.Input(input_shape, name=name)
    h = x
    if mask is not None:
        h = layers.Lambda(lambda t, m=np.asarray(mask, np.float32): t * m)(h)
    h = layers.Flatten()(h)
    dense = layers.Dense(weights.shape[1], activation="softmax", name="softmax")
    out = dense(h)
    model = keras.Model(x, out)
    dense.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    return model


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)



def numpy_probs(x, w, b, mask):
    return softmax((x * mask).reshape(len(x), -1) @ w + b)


def two_input_model():
    """Two streams (frames and flow), each flattened, concatenated, a softmax."""
    a = keras.Input((2, 4, 4, 1), name="frames")
    v = keras.Input((4, 4, 4, 1), name="flow")
    h = layers.Concatenate()([layers.Flatten()(a), layers.Flatten()(v)])
    h = layers.Dense(5, activation="tanh")(h)
    return keras.Model({"frames": a, "flow": v}, layers.Dense(3, activation="softmax", name="softmax")(h))



def small_conv_net(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((3, 6, 6, 1), name="flow")
    h = layers.Conv3D(4, 3, padding="same", activation="tanh", name="conv")(x)
    h = layers.Flatten()(h)
    h = layers.Dense(6, activation="softplus")(h)
    return keras.Model(x, layers.Dense(3, activation="softmax", name="softmax")(h))


