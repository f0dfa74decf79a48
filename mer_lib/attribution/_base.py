"""Inputs, model calls and gradients shared by every attribution method.

A model takes one array or a dict of arrays keyed by its input names, N examples first;
:func:`gradients` differentiates under TensorFlow, JAX or PyTorch; :func:`class_scores` gives
the probabilities or the logits that the methods explain.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["gradients", "class_scores", "SCORES"]

#: What a method explains: the class probability, or the score before the softmax (the logit).
SCORES = ("probability", "logit")


# ---------------------------------------------------------------------------------------------- inputs
def _input_names(model):
    """(names of the model's inputs, how it is called: "dict", "single" or "list")."""
    try:
        structure = model.input
    except AttributeError:              # a Sequential model not called yet: one input
        return [getattr(model, "name", "input")], "single"
    if isinstance(structure, dict):
        return list(structure), "dict"
    names = [t.name for t in model.inputs]
    return names, "single" if len(names) == 1 and not isinstance(structure, (list, tuple)) else "list"


def _as_dict(model, inputs, name="inputs"):
    """The inputs as a dict of float32 arrays keyed by the model's input names, and how to call the model."""
    names, form = _input_names(model)
    if isinstance(inputs, dict):
        if sorted(inputs) != sorted(names):
            raise UserInputError(f"{name}: expected arrays for the model's inputs {names}, got {sorted(inputs)}")
        arrays = {k: np.asarray(inputs[k], dtype=np.float32) for k in names}
    elif len(names) == 1:
        arrays = {names[0]: np.asarray(inputs, dtype=np.float32)}
    else:
        raise UserInputError(f"{name}: the model takes {len(names)} inputs {names}: pass a dict of arrays")
    sizes = {k: len(v) if v.ndim else 0 for k, v in arrays.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise UserInputError(f"{name}: every input must hold the same number of examples (N first), got {sizes}")
    return arrays, (form, names)


def _call_form(arrays, how):
    form, names = how
    if form == "dict":
        return arrays
    if form == "single":
        return arrays[names[0]]
    return [arrays[k] for k in names]


def _layout(x, stream):
    """(time axis or None, (row axis, column axis)) of a stream of shape (N, ...)."""
    if x.ndim == 5:
        return 1, (2, 3)
    if x.ndim == 4:
        return None, (1, 2)
    raise UserInputError(f"inputs[{stream!r}]: expected a clip stream (N, T, H, W, C) or an image stream "
                         f"(N, H, W, C), got shape {x.shape}")


def _targets(target, n):
    target = np.asarray(target)
    if target.ndim == 0:
        target = np.full(n, int(target))
    if target.shape != (n,) or not np.issubdtype(target.dtype, np.integer):
        raise UserInputError(f"target: expected one integer class per example, shape ({n},), got "
                             f"{target.dtype} {target.shape}")
    return target.astype(int)


def _stream_name(arrays, stream):
    if stream is None:
        if len(arrays) != 1:
            raise UserInputError(f"stream: the model takes {sorted(arrays)}; name the one to occlude")
        return next(iter(arrays))
    if stream not in arrays:
        raise UserInputError(f"stream: expected one of {sorted(arrays)}, got {stream!r}")
    return stream


def _baseline_for(x, baseline, name="baseline"):
    """The baseline of one stream as an array of x's shape."""
    b = np.asarray(baseline, dtype=np.float32)
    try:
        return np.broadcast_to(b, x.shape)
    except ValueError:
        raise UserInputError(f"{name}: expected a number or an array that broadcasts to {x.shape}, got shape "
                             f"{b.shape}") from None


def _baselines(arrays, baseline):
    if isinstance(baseline, dict):
        missing = sorted(set(arrays) - set(baseline))
        if missing:
            raise UserInputError(f"baseline: no baseline for {missing}")
        return {k: _baseline_for(v, baseline[k], f"baseline[{k!r}]") for k, v in arrays.items()}
    return {k: _baseline_for(v, baseline) for k, v in arrays.items()}


def _check_batch(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserInputError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return int(batch_size)


def _predict(model, arrays, how, batch_size):
    """Class probabilities (N, K) as float64, in batches, inference mode."""
    from keras import ops

    n = len(next(iter(arrays.values())))
    out = []
    for start in range(0, n, batch_size):
        chunk = {k: v[start:start + batch_size] for k, v in arrays.items()}
        # a direct call in inference mode: predict_on_batch would trace a new function for every batch size
        out.append(np.asarray(ops.convert_to_numpy(model(_call_form(chunk, how), training=False)), dtype=np.float64))
    probs = np.concatenate(out)
    if probs.ndim != 2:
        raise UserInputError(f"model: expected class probabilities of shape (N, K), got shape {probs.shape}")
    return probs


# ------------------------------------------------------------------------------------------- gradients
def gradients(fn, arrays):
    """The gradient of a scalar function of several arrays, under the current Keras backend.

    Parameters
    ----------
    fn : callable
        ``fn(tensors) -> scalar tensor``, where ``tensors`` is a dict of the
        backend's tensors with the keys of ``arrays``. Build it from Keras
        models and ``keras.ops``.
    arrays : dict of str to ndarray

    Returns
    -------
    dict of str to ndarray
        The gradient with respect to each array, float64, of its shape.

    Raises
    ------
    UserInputError
        Under a backend other than TensorFlow, JAX and PyTorch.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = {k: tf.convert_to_tensor(v) for k, v in arrays.items()}
        with tf.GradientTape() as tape:
            tape.watch(list(tensors.values()))
            value = fn(tensors)
        grads = tape.gradient(value, tensors)
        return {k: np.zeros(arrays[k].shape) if g is None else np.asarray(g, np.float64) for k, g in grads.items()}
    if backend == "jax":
        import jax

        grads = jax.grad(fn)({k: jax.numpy.asarray(v) for k, v in arrays.items()})
        return {k: np.asarray(g, np.float64) for k, g in grads.items()}
    if backend == "torch":
        import torch

        tensors = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in arrays.items()}
        fn(tensors).backward()
        return {k: (np.zeros(arrays[k].shape) if t.grad is None else t.grad.detach().cpu().numpy().astype(np.float64))
                for k, t in tensors.items()}
    raise UserInputError(f"the Keras backend {backend!r} has no gradient here: use tensorflow, jax or torch "
                         "(occlusion works under every backend)")


def _softmax_head(model):
    """The model's last layer when it is a Dense layer with a softmax (for the logit)."""
    import keras

    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if not isinstance(last, keras.layers.Dense) or getattr(activation, "__name__", "") != "softmax":
        raise UserInputError("score='logit': the model's last layer must be a Dense layer with a softmax "
                             f"(its logits are the Dense layer's output before it), got {type(last).__name__}; "
                             "use score='probability'")
    return last


def _score_model(model, score, symbols=None):
    """(net, head): ``net`` returns the probabilities (head None) or the features the softmax layer
    ``head`` turns into logits. Called like the model, or, given a list of symbolic ``symbols`` (a
    layer's output and the model's inputs), with the list of their values."""
    import keras

    if score not in SCORES:
        raise UserInputError(f"score: expected one of {SCORES}, got {score!r}")
    if score == "probability":
        return (model if symbols is None else keras.Model(list(symbols), model.outputs[0])), None
    head = _softmax_head(model)
    return keras.Model(model.input if symbols is None else list(symbols), head.input), head


def class_scores(model, inputs, score="probability", batch_size=32):
    """The model's class probabilities, or its logits, for a batch of inputs.

    Parameters
    ----------
    model : keras.Model
        Returns class probabilities; for ``score="logit"`` its last layer is
        a Dense layer with a softmax.
    inputs : ndarray or dict of ndarray, N examples first
    score : {"probability", "logit"}
    batch_size : int

    Returns
    -------
    ndarray, shape (N, K), float64
    """
    from keras import ops

    arrays, how = _as_dict(model, inputs)
    batch_size = _check_batch(batch_size)
    if score == "probability":
        return _predict(model, arrays, how, batch_size)
    net, head = _score_model(model, score)
    out = []
    n = len(next(iter(arrays.values())))
    for start in range(0, n, batch_size):
        chunk = {k: v[start:start + batch_size] for k, v in arrays.items()}
        h = net(_call_form(chunk, how), training=False)
        out.append(ops.convert_to_numpy(ops.matmul(h, head.kernel) + head.bias).astype(np.float64))
    return np.concatenate(out)


def _target_sum(values, target):
    """sum_i values[i, target[i]] as a backend scalar."""
    from keras import ops

    onehot = np.eye(values.shape[-1], dtype=np.float32)[target]
    return ops.sum(values * ops.convert_to_tensor(onehot))
