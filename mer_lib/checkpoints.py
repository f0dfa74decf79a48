"""Checkpoints of a training run: the data's and the model's fingerprints, and the files a resumed run reads.

A checkpoint is the model's and the optimiser's variables in one uncompressed
``.npz`` and a ``state.json`` that points at it, each written atomically and
the state last, so a run killed at any moment leaves a consistent checkpoint.
A broken or foreign checkpoint is a one-line :class:`~mer_lib.errors.UserInputError`
naming the file.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from mer_lib._io import atomic_write, atomic_write_text, make_folder
from mer_lib.errors import UserInputError

__all__ = ["data_fingerprint"]


def data_fingerprint(inputs, labels, groups=None):
    """A short hash of the training data itself (every array's bytes, shapes and dtypes).

    Parameters
    ----------
    inputs : ndarray or dict of ndarray
    labels : array_like, shape (N,)
    groups : array_like, shape (N,), optional

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    digest = hashlib.blake2b(digest_size=8)
    items = sorted(inputs.items()) if isinstance(inputs, dict) else [("x", inputs)]
    for key, value in items + [("labels", np.asarray(labels))] + (
            [("groups", np.asarray(groups).astype(str))] if groups is not None else []):
        value = np.ascontiguousarray(value)
        digest.update(f"{key}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _model_signature(model):
    """A hash of the model's architecture: each layer's class and weight shapes (not its automatic name)."""
    text = ";".join(f"{type(layer).__name__}:{[tuple(w.shape) for w in layer.weights]}" for layer in model.layers)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _read_state(folder):
    """The checkpoint's state, None when there is none; a one-line error naming a broken file."""
    path = folder / "state.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        for key in ("epoch", "file", "history", "fingerprint", "initial_loss", "paths"):
            state[key]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserInputError(f"{path} is not a checkpoint state this library wrote ({type(err).__name__}: {err}); "
                         "delete the folder to start again") from None
    if not (folder / state["file"]).is_file():
        raise UserInputError(f"{path} points at {state['file']}, which is missing from {folder}; "
                         "delete the folder to start again")
    return state


def _variables(model):
    """The model's variables and its optimiser's, in a fixed order, with their paths."""
    model_vars = list(model.variables)
    opt_vars = list(model.optimizer.variables)
    return ([("model/" + v.path, v) for v in model_vars] + [("optimizer/" + v.path, v) for v in opt_vars])


def _save_checkpoint(model, folder, epoch, history, fingerprint, extra, best_weights=None):
    """Write the model's and the optimiser's variables as ``checkpoint-<epoch>.npz``, then point
    ``state.json`` at it. Both writes are atomic, and the state is written last, so a run killed at any
    moment leaves a consistent checkpoint (the previous one, or this one)."""
    make_folder(folder)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    named = _variables(model)
    arrays = {f"v{i:04d}": np.asarray(v.numpy() if hasattr(v, "numpy") else v) for i, (_, v) in enumerate(named)}
    if best_weights is not None:
        arrays.update({f"b{i:04d}": w for i, w in enumerate(best_weights)})
    name = f"checkpoint-{epoch:04d}.npz"
    atomic_write(folder / name, lambda f: np.savez(f, **arrays), suffix=".npz")
    state = {"epoch": epoch, "file": name, "history": history, "fingerprint": fingerprint,
             "paths": [p for p, _ in named], "has_best": best_weights is not None, **extra}
    atomic_write_text(folder / "state.json", json.dumps(state))
    for old in folder.glob("checkpoint-*.npz"):
        if old.name != name:
            old.unlink()


def _load_checkpoint(model, path, state):
    """Assign the saved variables to a freshly built and compiled model; return the best weights or None."""
    import zipfile

    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    named = _variables(model)
    if len(named) != len(state["paths"]):
        raise UserInputError(f"the checkpoint {path} holds {len(state['paths'])} variables, this model and its "
                         f"optimiser {len(named)}: it was written by another model or library version")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        arrays = None
    if arrays is None or any(f"v{i:04d}" not in arrays for i in range(len(named))):
        raise UserInputError(f"the checkpoint file {path} is unreadable or incomplete; delete its folder to start "
                             "again")
    for i, (_, var) in enumerate(named):
        value = arrays[f"v{i:04d}"]
        if tuple(value.shape) != tuple(var.shape):
            raise UserInputError(f"the checkpoint file {path} does not fit this model ({named[i][0]}: "
                             f"{value.shape} vs {tuple(var.shape)})")
        var.assign(value)
    if state.get("has_best"):
        return [arrays[f"b{i:04d}"] for i in range(len(model.get_weights()))]
    return None
