"""Training with Keras: the paper's settings, repeatable seeds, checkpoints and resumption.

The paper trains with categorical cross-entropy, "the default learning rate
scheduling" (Adam at Keras' default rate is assumed here), 100 epochs and
batches of 8. :func:`train` adds what a course needs:

- seeds that make a CPU run repeatable (Python, NumPy and the backend seeded;
  TensorFlow's deterministic ops turned on; each epoch's shuffling derived
  from the seed and the epoch number, so it does not depend on resumption);
- a checkpoint after every epoch (model, optimiser state, history), written
  atomically; calling :func:`train` again with the same ``checkpoint_dir``
  continues from the last finished epoch, which is what a Colab disconnect
  needs;
- on a GPU: mixed precision and XLA compilation; several GPUs: a
  ``tf.distribute.MirroredStrategy``;
- on a machine without a GPU: a clear message, and a shortened run when the
  caller asks for one (``cpu_epochs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_lib.env import gpu_names

__all__ = ["train", "TrainResult", "class_weights", "set_seeds"]

_TOLD: set = set()


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : keras.Model
    history : dict of list
        Per-epoch ``loss``, ``accuracy`` and, with validation data,
        ``val_loss`` and ``val_accuracy`` (resumed runs included).
    epochs : int
        Epochs trained in all (the target, possibly shortened).
    resumed_from : int
        The epoch a resumed run started from (0 for a fresh run).
    device : str
        "GPU: <names>" or "CPU".
    shortened : bool
        Whether the run was shortened because there is no GPU.
    """

    model: object
    history: dict
    epochs: int
    resumed_from: int = 0
    device: str = "CPU"
    shortened: bool = False
    notes: list = field(default_factory=list)


def set_seeds(seed):
    """Seed Python, NumPy and the Keras backend, and make TensorFlow's ops deterministic."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass


def class_weights(labels, n_classes=None):
    """Balanced class weights ``n / (K * n_c)``, as a dict for Keras.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_classes : int, optional

    Returns
    -------
    dict of int to float
    """
    labels = np.asarray(labels, dtype=int)
    k = int(labels.max() + 1) if n_classes is None else int(n_classes)
    counts = np.bincount(labels, minlength=k)
    return {c: (len(labels) / (k * counts[c]) if counts[c] else 0.0) for c in range(k)}


def _atomic_write_text(path, text):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _subset(inputs, index):
    if isinstance(inputs, dict):
        return {k: v[index] for k, v in inputs.items()}
    return inputs[index]


def _length(inputs):
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


def train(build_model, inputs, labels, *, n_classes=3, epochs=100, batch_size=8, seed=0, class_weight=None,
          validation=None, checkpoint_dir=None, learning_rate=1e-3, cpu_epochs=None, verbose=1,
          mixed_precision="auto", jit_compile="auto"):
    """Train a model as the paper does, repeatably and resumably.

    Parameters
    ----------
    build_model : callable
        ``build_model() -> keras.Model`` (uncompiled), e.g.
        ``lambda: two_stream("paper")``. It is called after the precision
        policy is set and inside the distribution strategy.
    inputs : ndarray or dict of ndarray
        The model's inputs, N examples first (``NetworkInputs.as_dict()``
        for the two-stream network).
    labels : array_like of int, shape (N,)
        Class indices.
    n_classes : int, default 3
    epochs : int, default 100
        The paper's.
    batch_size : int, default 8
        The paper's.
    seed : int
    class_weight : None, "balanced" or dict
    validation : tuple (inputs, labels), optional
        Monitored each epoch; never used to pick the model (the last epoch's
        weights are returned).
    checkpoint_dir : str or Path, optional
        Where to checkpoint after each epoch and resume from.
    learning_rate : float
    cpu_epochs : int, optional
        On a machine without a GPU, train at most this many epochs and say so.
    verbose : int
        Keras' progress display (1: a progress bar per epoch).
    mixed_precision, jit_compile : "auto" or bool
        "auto": on with a GPU, off on a CPU.

    Returns
    -------
    TrainResult
    """
    import keras

    from mer_lib.models import compile_model

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")   # retracing notices between folds are expected here
    labels = np.asarray(labels, dtype=int)
    n = _length(inputs)
    if len(labels) != n or n == 0:
        raise ValueError(f"labels ({len(labels)}) must match the number of examples ({n}), and not be empty")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be class indices in 0 .. {n_classes - 1}")
    gpus = gpu_names()
    device = f"GPU: {', '.join(gpus)}" if gpus else "CPU"
    notes = []
    shortened = False
    if not gpus:
        notes.append("No GPU found: training on the CPU, which is much slower "
                     "(in Colab: Runtime > Change runtime type > GPU).")
        if cpu_epochs is not None and cpu_epochs < epochs:
            notes.append(f"Shortened run on the CPU: {cpu_epochs} epochs instead of {epochs}.")
            epochs, shortened = int(cpu_epochs), True
    global _TOLD
    for note in notes:
        if note not in _TOLD:          # once per session, not once per fold
            print(note)
            _TOLD.add(note)
    use_mixed = bool(gpus) if mixed_precision == "auto" else bool(mixed_precision)
    use_xla = bool(gpus) if jit_compile == "auto" else bool(jit_compile)
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    if class_weight == "balanced":
        class_weight = class_weights(labels, n_classes)
    y = keras.utils.to_categorical(labels, n_classes)
    val = None
    if validation is not None:
        val = (validation[0], keras.utils.to_categorical(np.asarray(validation[1], dtype=int), n_classes))

    fingerprint = {"batch_size": int(batch_size), "seed": int(seed), "n": int(n),
                   "n_classes": int(n_classes), "label_sum": int(labels.sum())}
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start, history = 0, {}
    set_seeds(seed)
    strategy = None
    if len(gpus) > 1 and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        notes.append(f"{len(gpus)} GPUs: MirroredStrategy")
    scope = strategy.scope() if strategy else contextlib.nullcontext()
    state_file = ckpt / "state.json" if ckpt is not None else None
    state = json.loads(state_file.read_text()) if state_file is not None and state_file.exists() else None
    if state is not None:
        saved = state["fingerprint"]
        if any(saved.get(key) != value for key, value in fingerprint.items()):
            raise ValueError(f"the checkpoint in {str(ckpt)!r} was made by another run "
                             f"({saved} vs {fingerprint}); use another checkpoint_dir")
        if int(state["epoch"]) > epochs:
            # asked for fewer epochs than the checkpoint holds: the weights of the shorter run are gone
            print(f"The checkpoint in {ckpt} is at epoch {state['epoch']}, beyond the {epochs} asked for: "
                  "training again from the start.")
            state = None
    if state is not None:
        start, history = int(state["epoch"]), state["history"]
        with scope:
            model = keras.models.load_model(ckpt / state["model"])
            for var, value in zip(_seed_generator_states(model), state.get("seed_generators", [])):
                var.assign(np.asarray(value, dtype=var.dtype))
        print(f"Resuming from the checkpoint in {ckpt} after epoch {start} of {epochs}.")
    else:
        with scope:
            model = compile_model(build_model(), learning_rate=learning_rate, jit_compile=use_xla)
    for epoch in range(start, epochs):
        # the shuffling of each epoch depends only on (seed, epoch): a resumed run sees the same batches
        order = np.random.default_rng([int(seed), epoch]).permutation(n)
        result = model.fit(_subset(inputs, order), y[order], batch_size=batch_size, epochs=epoch + 1,
                           initial_epoch=epoch, shuffle=False, class_weight=class_weight, validation_data=val,
                           verbose=verbose)
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if ckpt is not None:
            _save_checkpoint(model, ckpt, epoch + 1, history, fingerprint)
    keras.mixed_precision.set_global_policy("float32")
    return TrainResult(model, history, epochs, start, device, shortened, notes)


def _seed_generator_states(model):
    """The state variables of the model's random-number generators (dropout), which the .keras
    format does not restore; without them a resumed run would draw other dropout masks."""
    return [v for v in model.non_trainable_variables if "seed_generator" in v.path]


def _save_checkpoint(model, folder, epoch, history, fingerprint):
    """Save the model (with its optimiser state) as ``model-<epoch>.keras``, then point ``state.json``
    at it; both writes are atomic, and the state is written last, so a run killed at any moment leaves
    a consistent checkpoint (the previous one, or this one)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"model-{epoch:04d}.keras"
    tmp_dir = Path(tempfile.mkdtemp(dir=folder, prefix=".tmp-"))
    try:
        model.save(tmp_dir / name)
        os.replace(tmp_dir / name, folder / name)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    state = {"epoch": epoch, "model": name, "history": history, "fingerprint": fingerprint,
             "seed_generators": [np.asarray(v.numpy()).tolist() for v in _seed_generator_states(model)]}
    _atomic_write_text(folder / "state.json", json.dumps(state))
    for old in folder.glob("model-*.keras"):
        if old.name != name:
            old.unlink()
