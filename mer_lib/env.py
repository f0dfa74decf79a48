"""Run-time environment: fast mode, GPU presence and the chapters' set-up line.

Every chapter of the book opens with the same set-up cell, which calls
:func:`print_setup`.  Fast mode (the environment variable ``MER_FAST=1``)
makes every chapter run small through the same code path; the tests and CI
use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

__all__ = ["fast_mode", "pick", "gpu_names", "has_gpu", "print_setup"]

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """Whether fast mode is on (``MER_FAST`` set to 1, true, yes or on).

    Returns
    -------
    bool
        True when chapters and commands should run small.
    """
    return os.environ.get("MER_FAST", "").strip().lower() in _TRUE


def pick(full, fast):
    """Choose a setting by mode: ``fast`` in fast mode, ``full`` otherwise.

    Parameters
    ----------
    full, fast : object
        The values for a full run and for a fast run.

    Returns
    -------
    object
        ``fast`` when :func:`fast_mode` is on, else ``full``.

    Examples
    --------
    >>> n_iterations = pick(full=300, fast=20)
    """
    return fast if fast_mode() else full


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs visible to this process.

    Asks ``nvidia-smi`` (present on Colab GPU runtimes) without importing a
    deep-learning framework; when TensorFlow is already imported it is asked
    too, which also covers GPUs that ``nvidia-smi`` does not list.

    Returns
    -------
    list of str
        One name per GPU; empty when there is none.
    """
    names: list[str] = []
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return names
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            names = [line.split(":", 1)[1].split("(")[0].strip()
                     for line in out.stdout.splitlines() if line.startswith("GPU")]
        except (OSError, subprocess.SubprocessError):
            names = []
    if not names and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        names = [d.name for d in tf.config.list_physical_devices("GPU")]
    return names


def has_gpu() -> bool:
    """Whether a GPU is present (see :func:`gpu_names`)."""
    return bool(gpu_names())


def print_setup() -> None:
    """Print the library's version, the mode and whether a GPU is present.

    Called by the set-up cell at the top of every chapter.
    """
    from mer_lib import __version__

    # TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) buries the
    # chapters' own output; keep errors only, unless the reader set a level.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    gpus = gpu_names()
    gpu = ", ".join(gpus) if gpus else "none (CPU only)"
    mode = "fast (MER_FAST=1)" if fast_mode() else "full"
    print(f"mer_lib {__version__} | Python {sys.version.split()[0]} | mode: {mode} | GPU: {gpu}")
