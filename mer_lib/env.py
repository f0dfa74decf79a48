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
import dataclasses
import importlib.abc
import importlib.util
import os
import shutil
import subprocess
import sys

__all__ = ["fast_mode", "pick", "gpu_names", "has_gpu", "print_setup", "live_widgets",
           "progress_bar", "progress_mode", "quiet_tensorflow", "tensorflow_log_level", "usable_cores",
           "ThreadSettings", "thread_settings", "current_threads", "bounded_threads", "tensorflow_pools"]

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


# ---------------------------------------------------------------------------------------------------------------
# Bounded threads: every pool of the CPU work sized from the cores this process may use, in one place
# ---------------------------------------------------------------------------------------------------------------

def usable_cores() -> int:
    """The number of CPU cores this process may run on.

    ``os.sched_getaffinity(0)`` where the system has it (Linux: a container,
    ``taskset`` or a CI runner limited to some of the machine's cores sees
    only those), else ``os.cpu_count()``; at least 1. Left alone, TensorFlow,
    OpenBLAS, OpenCV and SciPy's FFTs size their pools by the machine's cores.

    Returns
    -------
    int
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):       # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class ThreadSettings:
    """How many threads and processes the CPU work may use (see :func:`bounded_threads`).

    Attributes
    ----------
    cores : int
        Cores this process may use (:func:`usable_cores`).
    tf_intra_op, tf_inter_op : int
        TensorFlow's two thread pools: threads that share one op (a
        convolution), and ops run at the same time.
    blas : int
        Threads of the BLAS and OpenMP libraries loaded in this process
        (NumPy's and SciPy's OpenBLAS, OpenMP runtimes).
    opencv : int
        OpenCV's threads in this process (``cv2.setNumThreads``).
    fft : int
        Threads per FFT of the magnifiers in this process
        (:func:`mer_lib.magnify.fft_workers`).
    processes : int
        Processes of the pre-processing (the default ``n_jobs`` of
        :func:`mer_lib.pipeline.preprocess`); each of them runs its FFTs and
        OpenCV on one thread.
    """

    cores: int
    tf_intra_op: int
    tf_inter_op: int
    blas: int
    opencv: int
    fft: int
    processes: int

    def describe(self) -> str:
        """One line: the cores and every setting."""
        return (f"{self.cores} usable core{'s' if self.cores != 1 else ''}: TensorFlow {self.tf_intra_op} intra-op "
                f"and {self.tf_inter_op} inter-op thread{'s' if self.tf_inter_op != 1 else ''}, BLAS/OpenMP "
                f"{self.blas}, OpenCV {self.opencv}, FFT {self.fft}; pre-processing in {self.processes} "
                f"process{'es' if self.processes != 1 else ''}")


def thread_settings(cores=None, **overrides) -> ThreadSettings:
    """The library's thread settings for a number of cores.

    Every pool gets the usable cores, except TensorFlow's inter-op pool, which
    gets one thread: the networks of this course are chains of large ops, so a
    second op at the same time only competes with the first for the same
    cores, and TensorFlow's default (one inter-op thread per core, beside as
    many intra-op threads) puts twice as many busy threads as cores. That is
    the library's reasoning, not yet a measurement: ``benchmarks/bench_threads.py``
    measures these settings against the others, on an idle machine and beside
    two CPU-bound processes, and writes ``benchmarks/results/threads.json``;
    change the defaults here if it finds better ones.

    Parameters
    ----------
    cores : int, optional
        Default: :func:`usable_cores`.
    **overrides : int
        Any field of :class:`ThreadSettings` but ``cores``, e.g. ``tf_intra_op=1``.

    Returns
    -------
    ThreadSettings

    Raises
    ------
    ValueError
        An unknown field, or a value that is not a positive integer.

    Examples
    --------
    >>> thread_settings(cores=2)
    ThreadSettings(cores=2, tf_intra_op=2, tf_inter_op=1, blas=2, opencv=2, fft=2, processes=2)
    >>> thread_settings(cores=2, processes=1).processes
    1
    """
    cores = usable_cores() if cores is None else cores
    values = dict(cores=cores, tf_intra_op=cores, tf_inter_op=1, blas=cores, opencv=cores, fft=cores,
                  processes=cores)
    fields = set(values) - {"cores"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown thread setting {unknown[0]!r}: choose from {', '.join(sorted(fields))}")
    values.update(overrides)
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return ThreadSettings(**values)


#: The settings of the ``bounded_threads`` blocks in effect, innermost last.
_ACTIVE: list = []
#: TensorFlow's pool sizes as a block set them: (intra-op, inter-op), through its configuration
#: (TensorFlow imported before the block) or through the environment (imported in the block).
_TF_SET: tuple | None = None


def current_threads() -> ThreadSettings:
    """The settings in effect: the innermost :func:`bounded_threads` block's, else :func:`thread_settings`'s."""
    return _ACTIVE[-1] if _ACTIVE else thread_settings()


def tensorflow_pools() -> dict | None:
    """TensorFlow's thread pools in this process, once its runtime has started.

    Returns
    -------
    dict or None
        ``intra_op`` and ``inter_op`` (None where TensorFlow chose: every
        core) and ``set_by`` (``"bounded_threads"``, ``"tf.config.threading"``,
        ``"environment"`` or ``"TensorFlow's defaults"``); None while
        TensorFlow is not imported or its runtime has not started.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None or not _tensorflow_started(tf):
        return None
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    if intra or inter:
        by = "bounded_threads" if _TF_SET == (intra, inter) else "tf.config.threading"
        return {"intra_op": intra or None, "inter_op": inter or None, "set_by": by}
    if _TF_SET is not None and _TF_SET[2:] == ("environment",):
        return {"intra_op": _TF_SET[0], "inter_op": _TF_SET[1], "set_by": "bounded_threads"}

    def env(name):
        value = os.environ.get(name, "")
        return int(value) if value.isdigit() and int(value) > 0 else None

    intra, inter = env("TF_NUM_INTRAOP_THREADS"), env("TF_NUM_INTEROP_THREADS")
    return {"intra_op": intra, "inter_op": inter,
            "set_by": "environment" if intra or inter else "TensorFlow's defaults"}


def _tensorflow_started(tf) -> bool:
    """Whether TensorFlow's runtime has started (its pools can no longer be resized)."""
    # TensorFlow refuses a *change* of a pool's size once its runtime has started (setting the same
    # size is never refused): try one, and undo it
    threading_api = tf.config.threading
    current = threading_api.get_intra_op_parallelism_threads()
    try:
        threading_api.set_intra_op_parallelism_threads(current + 1)
    except RuntimeError:
        return True
    threading_api.set_intra_op_parallelism_threads(current)
    return False


@contextlib.contextmanager
def _environment(values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _blas_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:             # the environment variables still bound the libraries loaded later
        yield
        return
    limits = threadpool_limits(limits=n)
    try:
        yield
    finally:
        limits.restore_original_limits()


@contextlib.contextmanager
def _opencv_threads(n):
    try:
        import cv2
    except ImportError:
        yield
        return
    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


@contextlib.contextmanager
def _tensorflow_threads(settings):
    global _TF_SET
    tf = sys.modules.get("tensorflow")
    imported_before = tf is not None
    if imported_before and not _tensorflow_started(tf):
        # kept after the block: TensorFlow sizes its pools once, from the configuration it has when its
        # runtime starts, so the configuration of the last block before that start is the process's
        tf.config.threading.set_intra_op_parallelism_threads(settings.tf_intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(settings.tf_inter_op)
        _TF_SET = (settings.tf_intra_op, settings.tf_inter_op)
    try:
        yield
    finally:
        tf = sys.modules.get("tensorflow")
        if not imported_before and tf is not None and _tensorflow_started(tf) and _TF_SET is None:
            # imported and started in the block: it read its pool sizes from the environment's variables
            _TF_SET = (settings.tf_intra_op, settings.tf_inter_op, "environment")


@contextlib.contextmanager
def bounded_threads(settings=None, **overrides):
    """Size every thread pool of the CPU work from the usable cores, and restore them on exit.

    Inside the ``with`` block:

    - TensorFlow's intra- and inter-op pools are ``settings.tf_intra_op`` and
      ``settings.tf_inter_op``, **if its runtime has not started yet** (its
      first op starts it: building a model, say). TensorFlow sizes its pools
      once, when its runtime starts, and can never resize them. So this part
      is not restored on exit: a TensorFlow imported before the block is
      configured for the process (the last block before its runtime starts
      decides); one imported in the block reads the sizes from the
      environment's variables if its runtime starts in the block (otherwise
      it gets its own defaults, every core, later). A block entered after
      the runtime started leaves the pools as they are. Enter the first
      block before the first TensorFlow op (the chapters do it in their
      first heavy cell); :func:`tensorflow_pools` says what the pools are.
    - The BLAS and OpenMP libraries already loaded (NumPy's and SciPy's
      OpenBLAS, OpenMP runtimes) use ``settings.blas`` threads, through
      threadpoolctl; restored on exit.
    - OpenCV uses ``settings.opencv`` threads; restored on exit.
    - The magnifiers' FFTs use ``settings.fft`` threads
      (:func:`mer_lib.magnify.fft_workers`); restored on exit.
    - :func:`mer_lib.pipeline.preprocess` starts ``settings.processes``
      processes by default (:func:`current_threads`).
    - The environment variables ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
      and ``MKL_NUM_THREADS`` are set to one pre-processing process's share of
      the cores (``cores // processes``), for the processes started in the
      block and the libraries loaded in it; ``TF_NUM_INTRAOP_THREADS`` and
      ``TF_NUM_INTEROP_THREADS`` to TensorFlow's pools, for a TensorFlow
      imported in the block. All restored on exit.

    Blocks nest; the innermost one's settings are in effect. Keras' JAX
    backend is not covered (XLA reads ``XLA_FLAGS`` once, at start-up).

    Parameters
    ----------
    settings : ThreadSettings, optional
        Default: :func:`thread_settings`.
    **overrides : int
        Fields to change (as for :func:`thread_settings`).

    Yields
    ------
    ThreadSettings
        The settings in effect.

    Examples
    --------
    >>> with bounded_threads(processes=1) as threads:
    ...     current_threads().processes
    1
    """
    if settings is None:
        settings = thread_settings(**overrides)
    elif overrides:
        fields = {k: v for k, v in dataclasses.asdict(settings).items() if k != "cores"}
        settings = thread_settings(settings.cores, **{**fields, **overrides})
    share = max(1, settings.cores // settings.processes)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment({"OMP_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share,
                                          "MKL_NUM_THREADS": share,
                                          "TF_NUM_INTRAOP_THREADS": settings.tf_intra_op,
                                          "TF_NUM_INTEROP_THREADS": settings.tf_inter_op}))
        stack.enter_context(_blas_threads(settings.blas))
        stack.enter_context(_opencv_threads(settings.opencv))
        from mer_lib.magnify.common import fft_workers

        stack.enter_context(fft_workers(settings.fft))
        stack.enter_context(_tensorflow_threads(settings))
        _ACTIVE.append(settings)
        stack.callback(_ACTIVE.pop)
        yield settings
