"""Is the network learning? Checks for a training run, before, during and after.

- :func:`initial_loss`: the loss of the untrained model. With K classes and
  uniform predictions it is ln K (1.0986 for three classes); far above, the
  initial logits are already large.
- :func:`detect_collapse`: after training, the signs of a collapsed run: one
  class predicted for every clip, or a training loss still above ln K (worse
  than uniform predictions, whose loss is ln K; predicting the class
  frequencies would give their entropy, which is at most ln K).
- :func:`step_diagnostics`: the first optimiser steps, one row per step and
  layer: the batch loss, the scale of the logits, the fraction of dead ReLU
  units (units that output zero for every clip of a probe set), the norm of
  each layer's gradient and of its update. This is how chapter 10 finds why
  the paper's recipe collapses.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

__all__ = ["initial_loss", "detect_collapse", "step_diagnostics", "dead_fraction", "gradient_norms"]


def initial_loss(model, inputs, labels, n_classes=3, batch_size=64):
    """Mean categorical cross-entropy of a model on clips (no label smoothing, no class weights).

    Parameters
    ----------
    model : keras.Model
        Outputs (N, n_classes) probabilities.
    inputs : ndarray or dict of ndarray, N examples first
    labels : array_like of int, shape (N,)
    n_classes : int

    Returns
    -------
    float
        ln K when the model predicts uniformly.
    """
    from mer_lib.models import predict

    probs = np.asarray(predict(model, inputs, batch_size), dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if probs.shape != (len(labels), n_classes):
        raise ValueError(f"the model gives predictions of shape {probs.shape}, expected {(len(labels), n_classes)}")
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float(-np.mean(np.log(picked)))


def detect_collapse(history, n_classes, predictions=None, after=5):
    """What is wrong with a finished run, if anything.

    Parameters
    ----------
    history : dict
        Per-epoch ``loss`` (as in :class:`mer_lib.train.TrainResult`).
    n_classes : int
    predictions : array_like of int, shape (N,), optional
        The trained model's predictions on its training clips.
    after : int
        Epochs after which a training loss above ln K counts as a collapse
        (the first epochs of a healthy run may be there).

    Returns
    -------
    list of str
        One sentence per finding; empty for a healthy run.

    Examples
    --------
    >>> detect_collapse({"loss": [9.5, 6.0, 2.1, 1.4, 1.3, 1.2]}, 3, predictions=[1, 1, 1, 1])
    ['one class (1) is predicted for all 4 training clips', 'the training loss is 1.200 after 6 epochs, above ln 3 = 1.099: worse than predicting uniformly']
    """
    if "loss" not in history:
        raise ValueError("history must hold the per-epoch training 'loss'")
    found = []
    if predictions is not None:
        predictions = np.asarray(predictions)
        classes = np.unique(predictions)
        if len(predictions) > 1 and len(classes) == 1:
            found.append(f"one class ({int(classes[0])}) is predicted for all {len(predictions)} training clips")
    losses = np.asarray(history["loss"], float)
    ln_k = math.log(n_classes)
    if len(losses) >= after and not np.isfinite(losses[-1]):
        found.append(f"the training loss is {losses[-1]} after {len(losses)} epochs")
    elif len(losses) >= after and losses[-1] > ln_k:
        found.append(f"the training loss is {losses[-1]:.3f} after {len(losses)} epochs, above ln {n_classes} = "
                     f"{ln_k:.3f}: worse than predicting uniformly")
    return found


def _relu_layers(model):
    import keras

    out = []
    for layer in model.layers:
        act = getattr(layer, "activation", None)
        if act is not None and getattr(act, "__name__", "") == "relu" and isinstance(layer, keras.layers.Dense):
            out.append(layer)
    return out


def _probe(model):
    """One Keras model giving the outputs of every ReLU Dense layer and the model's output."""
    import keras

    layers = _relu_layers(model)
    return layers, keras.Model(model.inputs, [layer.output for layer in layers] + [model.outputs[0]])


def _dead(layers, outputs):
    return {layer.name: float(np.mean(np.asarray(o).max(axis=0) <= 0)) for layer, o in zip(layers, outputs)}


def dead_fraction(model, inputs, batch_size=64):
    """Fraction of the units of each ReLU Dense layer that output zero for every clip.

    Parameters
    ----------
    model : keras.Model
    inputs : ndarray or dict of ndarray, N examples first

    Returns
    -------
    dict of str to float
        Layer name -> fraction of dead units, in [0, 1].
    """
    layers, probe = _probe(model)
    if not layers:
        return {}
    outs = _outputs(probe, inputs, batch_size)
    return _dead(layers, outs[:-1])


def gradient_norms(model, inputs, labels):
    """The L2 norm of the loss gradient with respect to each layer's weights, on one batch.

    Uses the compiled model's loss. Needs the TensorFlow or JAX backend.

    Parameters
    ----------
    model : keras.Model, compiled
    inputs : ndarray or dict of ndarray, shape (B, ...)
    labels : ndarray, shape (B, K)
        One-hot targets.

    Returns
    -------
    dict of str to float
        Layer name -> gradient norm over its trainable weights.
    """
    import keras

    backend = keras.backend.backend()
    variables = model.trainable_variables
    loss_of = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            pred = model(inputs, training=True)
            loss = loss_of(labels, pred)
        grads = [np.asarray(g) for g in tape.gradient(loss, variables)]
    elif backend == "jax":
        import jax

        trainable = [v.value for v in variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_fn(tv):
            pred, _ = model.stateless_call(tv, non_trainable, inputs, training=True)
            return loss_of(labels, pred)

        grads = [np.asarray(g) for g in jax.grad(loss_fn)(trainable)]
    else:
        raise ValueError(f"gradient_norms needs the tensorflow or jax backend, not {backend!r}")
    norms = {}
    for var, g in zip(variables, grads):
        layer = var.path.split("/")[0]
        norms[layer] = norms.get(layer, 0.0) + float(np.sum(np.square(g, dtype=np.float64)))
    return {k: math.sqrt(v) for k, v in norms.items()}


@contextlib.contextmanager
def _steps_run_eagerly(model):
    """``model.train_on_batch`` runs eagerly inside the block, as Keras' ``run_eagerly=True`` makes it.

    A diagnosis takes a few steps of a new model: tracing its training step
    (about 4 s of a 2-core CPU for the two-stream network) costs more than
    the steps. The model's own setting and compiled step are restored after.
    """
    before, function = model.run_eagerly, model.train_function
    model.run_eagerly, model.train_function = True, None
    try:
        yield
    finally:
        model.run_eagerly, model.train_function = before, function


def _outputs(model, inputs, batch_size):
    """Every output of a model (a list, one array per output), called eagerly (:func:`mer_lib.models.predict`)."""
    from mer_lib.models import predict

    out = predict(model, inputs, batch_size)
    return out if isinstance(out, list) else [out]


def step_diagnostics(model, inputs, labels, n_classes=3, steps=17, batch_size=8, seed=0, probe=None):
    """Train a compiled model for its first steps and record what each step does to it.

    The steps run eagerly (as Keras' ``run_eagerly=True`` runs them) and the
    probe clips' outputs come from calling the model: a diagnosis takes a
    few steps of a new model, and tracing them would cost more than running
    them. The model's compiled step is restored after.

    Parameters
    ----------
    model : keras.Model, compiled
    inputs : ndarray or dict of ndarray, N examples first
    labels : array_like of int, shape (N,)
    n_classes : int
    steps : int
        Optimiser steps (17 is one epoch of 131 clips at batch 8).
    batch_size : int
    seed : int
        The order of the clips.
    probe : tuple (inputs, labels), optional
        Clips on which the loss, the logits and the dead units are measured
        after each step (default: the training clips).

    Returns
    -------
    pandas.DataFrame
        One row per step (0 = before training) and layer with trainable
        weights: ``step``, ``loss`` (mean cross-entropy on the probe clips),
        ``logit_std`` (standard deviation of the pre-softmax scores, measured
        as the log-probabilities' spread), ``classes_predicted``, ``layer``,
        ``dead`` (for ReLU Dense layers, else NaN), ``grad_norm`` (of the
        batch about to be taken) and ``update_norm`` (how far the step moved
        the layer's weights).
    """
    import keras
    import pandas as pd

    labels = np.asarray(labels, dtype=int)
    n = len(labels)
    probe_x, probe_y = probe if probe is not None else (inputs, labels)
    y = keras.utils.to_categorical(labels, n_classes)
    order = np.random.default_rng(seed).permutation(n)
    weighted = [layer for layer in model.layers if layer.trainable_weights]
    rows = []

    def weights():
        return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in weighted}

    def subset(index):
        return {k: v[index] for k, v in inputs.items()} if isinstance(inputs, dict) else inputs[index]

    relu_layers, probe_model = _probe(model)
    with _steps_run_eagerly(model):
        for step in range(steps + 1):
            outs = _outputs(probe_model, probe_x, 64)
            probs = np.asarray(outs[-1], dtype=np.float64)
            logp = np.log(np.clip(probs, 1e-12, 1.0))
            loss = float(-np.mean(logp[np.arange(len(probe_y)), np.asarray(probe_y, int)]))
            logit_std = float(np.mean(np.std(logp - logp.mean(axis=1, keepdims=True), axis=1)))
            dead = _dead(relu_layers, outs[:-1])
            batch = order[(step * batch_size) % n:][:batch_size]
            if len(batch) < batch_size:
                batch = np.concatenate([batch, order[: batch_size - len(batch)]])
            grads = gradient_norms(model, subset(batch), y[batch]) if step < steps else {}
            before = weights()
            if step < steps:
                model.train_on_batch(subset(batch), y[batch])
            after = weights()
            for layer in weighted:
                moved = math.sqrt(sum(float(np.sum((a - b) ** 2))
                                      for a, b in zip(after[layer.name], before[layer.name])))
                rows.append({"step": step, "loss": loss, "logit_std": logit_std,
                             "classes_predicted": int(len(np.unique(probs.argmax(axis=1)))), "layer": layer.name,
                             "dead": dead.get(layer.name, np.nan), "grad_norm": grads.get(layer.name, np.nan),
                             "update_norm": moved if step < steps else np.nan})
    return pd.DataFrame(rows)
