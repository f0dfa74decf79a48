"""A measurement for chapter 10: N runs stacked in one program against the same runs one after another."""

from __future__ import annotations

import json

import numpy as np

from mer_lib.batched.program import Run
from mer_lib.batched.trainer import train_many

__all__ = ["measure_stacking", "measure_stacking_in_subprocess"]




def _stacking_model(shape):
    import keras
    from keras import layers

    inp = keras.Input(shape, name="frames")
    x = layers.Flatten()(inp)
    x = layers.Dense(64, activation="relu")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def measure_stacking(n_runs=8, epochs=4, clips=131, size=16, batch_size=8):
    """Time an epoch of one run, and of ``n_runs`` runs stacked in one program, of a small model.

    The model reads clips of 8 frames of ``size`` x ``size`` pixels (random:
    speed does not depend on them) through one hidden Dense layer: a step is
    cheap, as a step of the paper's network is for a GPU. Needs the JAX
    backend (see :func:`measure_stacking_in_subprocess`).

    Parameters
    ----------
    n_runs, epochs, clips, size, batch_size : int

    Returns
    -------
    dict
        ``one_run_epoch_s`` and ``stacked_epoch_s`` (the median epoch after
        the first, which compiles), ``n_runs``, ``speedup`` (``n_runs`` runs
        one after another against stacked), ``compile_s``, ``device``.
    """
    import warnings as _warnings

    import jax

    rng = np.random.default_rng(0)
    x = rng.normal(size=(clips, 8, size, size, 1)).astype(np.float32)
    y = np.arange(clips) % 3
    build = lambda: _stacking_model(x.shape[1:])  # noqa: E731
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        one = train_many(build, [Run(x, y, seed=0)], epochs=epochs, batch_size=batch_size, verbose=0,
                         keep_models=False)[0]
        many = train_many(build, [Run(index=np.arange(clips), seed=s) for s in range(n_runs)], data=(x, y),
                          epochs=epochs, batch_size=batch_size, verbose=0, keep_models=False)[0]
    t1 = float(np.median(one.epoch_seconds[1:]))
    tn = float(np.median(many.epoch_seconds[1:]))
    return {"n_runs": int(n_runs), "epochs": int(epochs), "clips": int(clips), "one_run_epoch_s": t1,
            "stacked_epoch_s": tn, "speedup": n_runs * t1 / tn, "compile_s": many.epoch_seconds[0] - tn,
            "device": jax.devices()[0].device_kind}


def measure_stacking_in_subprocess(timeout=600, platform="cpu", **kwargs):
    """:func:`measure_stacking` in a child process on Keras' JAX backend, from any backend (Colab's TensorFlow).

    Parameters
    ----------
    timeout : float
        Seconds.
    platform : str
        JAX's platform in the child ("cpu": the measurement of chapter 10).
    **kwargs
        Passed to :func:`measure_stacking`.

    Returns
    -------
    dict or None
        Its result, or None when JAX is not installed.
    str
        Why there is no result (empty when there is one).
    """
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("jax") is None:
        return None, "JAX is not installed here (pip install jax), so the batched trainer cannot run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["JAX_PLATFORMS"] = platform
    code = ("import json, sys; from mer_lib.batched import measure_stacking; "
            f"print('RESULT', json.dumps(measure_stacking(**{json.dumps(kwargs)})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):]), ""
    return None, f"the measurement failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
