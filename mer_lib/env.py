"""Run-time environment: fast mode, GPU presence, bounded threads and the chapters' set-up line.

Every chapter of the book opens with the same set-up cell, which calls
:func:`print_setup`.  Fast mode (the environment variable ``MER_FAST=1``)
makes every chapter run small through the same code path; the tests and CI
use it.  While the book is being built (``MER_BOOK_BUILD=1``, set by the
build's Sphinx extension ``tools/mer_build.py``, by ``make book`` and by the
tests) no interactive widget is created: see :func:`live_widgets`.

Importing the library changes nothing in the interpreter. What changes a
process-wide setting is asked for by name: :func:`quiet_tensorflow` (called
by every chapter's set-up cell and by the ``mer`` command), or restores what
it changed when it ends (:func:`tensorflow_log_level`).
:func:`bounded_threads` is the one place that sizes the CPU's thread pools
(TensorFlow's, BLAS/OpenMP's, OpenCV's, the magnifiers' FFTs) and the
pre-processing's process count from the cores this process may use.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import shutil
import subprocess
import sys

__all__ = ["fast_mode", "pick", "gpu_names", "has_gpu", "print_setup", "live_widgets",
           "progress_bar", "progress_mode", "quiet_tensorflow", "tensorflow_log_level", "usable_cores",
           "ThreadSettings", "thread_settings", "current_threads", "bounded_threads", "tensorflow_pools",
           "seed_keras", "collect_garbage", "keras_backend", "package_version"]

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


def live_widgets() -> bool:
    """Whether interactive widgets (ipywidgets, tqdm's notebook bars) may be shown.

    False while the book is built (``MER_BOOK_BUILD`` set to 1, true, yes or
    on): a builder executes the chapters without a browser, so a widget has
    nobody to talk to, and its comm messages can stall the executor (nbclient
    issue 312: the cell's reply arrives but is seen only when the cell timeout
    expires).  The book shows the static figure instead; in Jupyter or Colab
    the widgets are live.

    Returns
    -------
    bool
        True in a live kernel, False while the book is built.
    """
    return os.environ.get("MER_BOOK_BUILD", "").strip().lower() not in _TRUE


def _in_notebook_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, Notebook, Colab): a live front-end may draw bars."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython too old or half-imported: no kernel to talk to
        return False
    return shell is not None and hasattr(shell, "kernel")


def progress_mode() -> str:
    """How :func:`progress_bar` shows progress here: ``"live"``, ``"text"`` or ``"summary"``.

    - ``"live"``: in a Jupyter or Colab kernel (not while the book is built):
      tqdm's notebook widget (``tqdm.auto``), redrawn in place;
    - ``"text"``: in a terminal (standard error is a TTY): tqdm's text bar,
      redrawn in place with carriage returns;
    - ``"summary"``: wherever a redrawn bar would leave its every state
      behind (the book's build, ``MER_BOOK_BUILD=1``; a log file, a pipe, CI):
      nothing while the work runs, then one line when it ends.

    Returns
    -------
    str
    """
    if not live_widgets():
        return "summary"
    if _in_notebook_kernel():
        return "live"
    try:
        return "text" if sys.stderr.isatty() else "summary"
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return "summary"


class _NullWriter:
    """A file that swallows what tqdm draws (the summary bar draws nothing while it runs)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def _summary_bar_class():
    """``tqdm.std.tqdm`` that draws nothing while it runs and prints one line when it closes."""
    from tqdm.std import tqdm

    class SummaryBar(tqdm):
        """A tqdm bar for non-interactive output: one summary line at the end, no redrawn states."""

        def __init__(self, iterable=None, *args, **kwargs):
            self._summary_file = kwargs.pop("file", None)
            self._summary_done = False
            kwargs.update(file=_NullWriter(), mininterval=kwargs.get("mininterval", 1.0))
            super().__init__(iterable, *args, **kwargs)

        def summary(self) -> str:
            """The line printed at the end: what was done, out of how much, in how long."""
            desc = f"{self.desc.rstrip(': ')}: " if self.desc else ""
            elapsed = self.format_interval(self.format_dict["elapsed"])
            if self.total is None:
                return f"{desc}{self.n} done in {elapsed}"
            done = f"{self.n}/{self.total:g}" if not float(self.total).is_integer() else \
                f"{self.n}/{int(self.total)}"
            if self.n < self.total:
                return f"{desc}stopped at {done} after {elapsed}"
            return f"{desc}{done} done in {elapsed}"

        def close(self):
            if getattr(self, "_summary_done", True) or self.disable:
                return super().close()
            self._summary_done = True
            super().close()
            out = self._summary_file
            if out is None:
                out = sys.stdout if _in_notebook_kernel() else sys.stderr
            try:
                print(self.summary(), file=out, flush=True)
            except (ValueError, OSError):  # the interpreter is shutting down, the stream is closed
                pass

    return SummaryBar


def progress_bar(iterable=None, **kwargs):
    """A tqdm progress bar that suits where the output goes (see :func:`progress_mode`).

    In Jupyter or Colab the notebook widget, in a terminal tqdm's text bar;
    while the book is built (``MER_BOOK_BUILD=1``), and wherever standard
    error is not a terminal, no bar at all but one line at the end
    (``"SynthME clips: 200/200 done in 00:12"``), so that a built page or a
    log holds one line instead of every state of a redrawn bar.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (as for ``tqdm``).
    **kwargs
        Passed to ``tqdm`` (``desc``, ``total``, ``initial``...).

    Returns
    -------
    tqdm.tqdm
        ``tqdm.auto.tqdm`` (live), ``tqdm.std.tqdm`` (text) or a subclass of
        it that prints only the final line (summary).

    Examples
    --------
    >>> sum(progress_bar(range(4), desc="adding", disable=True))
    6
    """
    mode = progress_mode()
    if mode == "live":
        from tqdm.auto import tqdm
    elif mode == "text" or kwargs.get("disable"):
        from tqdm.std import tqdm
    else:
        tqdm = _summary_bar_class()
    return tqdm(iterable, **kwargs)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up lines out of the output; call it before importing TensorFlow.

    TensorFlow 2.16+ logs through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``
    ("All log messages before absl::InitializeLog() is called are written to
    STDERR", the oneDNN notice, ``cudart_stub.cc`` "Could not find cuda
    drivers"), straight to file descriptor 2, which Jupyter shows under the
    cell.  This sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the reader set a level)
    for what comes after start-up, and arranges that the first
    ``import tensorflow`` (also through ``import keras``) runs with file
    descriptor 2 sent to ``os.devnull``.  Python errors still raise.  Calling
    it again, or after TensorFlow was imported, does nothing more.  It is
    opt-in: ``import mer_lib`` does not call it; every chapter's set-up cell
    (through :func:`print_setup`) and the ``mer`` command do.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietImportFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietImportFinder("tensorflow"))


@contextlib.contextmanager
def _stderr_fd_silenced():
    """Send file descriptor 2 to os.devnull for the duration (C++ libraries write there)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietLoader:
    """Wraps a module's loader so that executing the module is silent on fd 2."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with _stderr_fd_silenced():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """One-shot import hook: the first import of ``name`` runs silenced (see quiet_tensorflow)."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


@contextlib.contextmanager
def tensorflow_log_level(level="ERROR"):
    """Within the block, TensorFlow's Python logger shows only ``level`` and above; restored after.

    Training retraces functions between folds and models, which TensorFlow
    reports as warnings; they are expected there. Outside TensorFlow (another
    Keras backend, or TensorFlow not imported) this does nothing.

    Parameters
    ----------
    level : str
        A :mod:`logging` level name.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None or not hasattr(tf, "get_logger"):
        yield
        return
    logger = tf.get_logger()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


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

    quiet_tensorflow()
    gpus = gpu_names()
    gpu = ", ".join(gpus) if gpus else "none (CPU only)"
    mode = "fast (MER_FAST=1)" if fast_mode() else "full"
    print(f"mer_lib {__version__} | Python {sys.version.split()[0]} | mode: {mode} | GPU: {gpu}")


# The thread settings live in mer_lib.threads; the chapters and the mer command read them from here.
from mer_lib.threads import (ThreadSettings, bounded_threads, current_threads, tensorflow_pools,  # noqa: E402
                             thread_settings, usable_cores)


def keras_backend() -> str:
    """The backend Keras uses in this process, or will use once imported, without importing it.

    Importing Keras imports its backend's framework (TensorFlow: 12 s of a
    2-core machine's CPU and about 1 GB of memory), which a process that only
    hands trainings to worker processes does not need. Before the import this
    follows Keras' own rule: ``KERAS_BACKEND`` when set and not empty, else the
    ``backend`` of ``keras.json`` in ``$KERAS_HOME`` (default ``~/.keras``, or
    ``/tmp/.keras`` where the home folder is not writable), else "tensorflow".

    Returns
    -------
    str
        "tensorflow", "jax", "torch" or "numpy".
    """
    import json

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    backend = "tensorflow"
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.expanduser(os.path.join(home, "keras.json"))) as f:
            config = json.load(f)
        if isinstance(config, dict) and config.get("backend"):
            backend = str(config["backend"])
    except (OSError, ValueError):
        pass
    return os.environ.get("KERAS_BACKEND") or backend


def package_version(module: str) -> str | None:
    """The version of the package that provides ``module``: its ``__version__`` once imported, else its installed
    distribution's (no import); None when it is not installed."""
    import importlib.metadata as metadata

    if module in sys.modules:
        return getattr(sys.modules[module], "__version__", None)
    for name in [module] + metadata.packages_distributions().get(module, []):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def seed_keras(seed):
    """Seed Python, NumPy and Keras as :func:`keras.utils.set_random_seed` does, without importing TensorFlow.

    Keras' function also seeds TensorFlow whenever it is installed, which
    imports it: 5 s of each process on Keras' JAX backend on a 2-core
    machine, for a seed nothing in that process reads. Here TensorFlow is
    seeded when it is the backend or already imported.

    Parameters
    ----------
    seed : int

    Examples
    --------
    >>> import numpy as np
    >>> seed_keras(3); a = np.random.rand()
    >>> seed_keras(3); bool(np.random.rand() == a)
    True
    """
    import random

    import keras
    import numpy as np

    seed = int(seed)
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    try:      # what keras.utils.set_random_seed sets besides TensorFlow's seed (Keras 3)
        from keras.src.backend.common import global_state
        from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:       # pragma: no cover (another Keras: its own function, TensorFlow's import and all)
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)   # recreated from the seed when next used
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


#: collect_garbage's full collections, one in this many calls (the first is one).
FULL_COLLECTION_EVERY = 25
_collections = [0]


def collect_garbage(full_every: int | None = None) -> bool:
    """Python's garbage collection between trainings, scanning mostly what was made since the last full one.

    With TensorFlow and Keras imported a process holds about 460,000 objects, and
    a full collection walks all of them: 0.4 s of a 2-core machine's CPU, at every
    training of a plan. Here one call in ``full_every`` (the first included)
    collects everything and then freezes the survivors (``gc.freeze``: the
    modules' objects, and whatever the caller still holds), so that the calls
    in between, and Python's automatic collections, skip them and scan only
    what was made since: the last training's models and graphs. What was
    frozen and has become garbage is collected at the next full call, at most
    ``full_every`` - 1 calls later.

    Parameters
    ----------
    full_every : int, optional
        Default :data:`FULL_COLLECTION_EVERY`.

    Returns
    -------
    bool
        Whether this call was a full collection.
    """
    import gc
    import numbers

    full_every = FULL_COLLECTION_EVERY if full_every is None else full_every
    if isinstance(full_every, bool) or not isinstance(full_every, numbers.Integral) or full_every < 1:
        from mer_lib.errors import UserInputError

        raise UserInputError(f"full_every: expected a positive number of calls, got {full_every!r}")
    full = _collections[0] % full_every == 0
    _collections[0] += 1
    if full:
        gc.unfreeze()            # every object back in the oldest generation, for a full collection
    gc.collect()
    if full:
        gc.freeze()
    return full
