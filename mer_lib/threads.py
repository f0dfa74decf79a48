"""Bounded threads: every CPU pool of the library's work sized from the cores this process may use, in one place.

:func:`bounded_threads` sets TensorFlow's intra- and inter-op pools, the
BLAS/OpenMP libraries' (through ``threadpoolctl``), OpenCV's, the magnifiers'
FFT workers and the pre-processing's process count from
:func:`usable_cores` (``os.sched_getaffinity``), and restores them when the
block ends; :func:`thread_settings` says what it would choose, and
``benchmarks/bench_threads.py`` measures which choice is fastest, idle and
beside busy processes. :mod:`mer_lib.env` re-exports these names.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import sys

from mer_lib.errors import UserInputError

#: Threads per FFT of the magnifiers (scipy.fft's ``workers``; -1: every core), per thread of execution.
_FFT_WORKERS = contextvars.ContextVar("mer_lib_fft_workers", default=-1)


@contextlib.contextmanager
def fft_workers(n):
    """Threads of the magnifiers' FFTs inside a ``with`` block (default outside: every core, -1).

    The setting is restored when the block ends, and is local to the thread
    (a context variable), so it never leaks into other code.

    Parameters
    ----------
    n : int
        Threads per FFT, as ``scipy.fft``'s ``workers`` (-1: every core).

    Examples
    --------
    >>> with fft_workers(1):
    ...     current_fft_workers()
    1
    >>> current_fft_workers()
    -1
    """
    if int(n) != n or n == 0 or n < -1:
        raise UserInputError(f"n must be a positive number of threads or -1 (every core), got {n!r}")
    token = _FFT_WORKERS.set(int(n))
    try:
        yield
    finally:
        _FFT_WORKERS.reset(token)


def current_fft_workers():
    """The FFT threads in effect (see :func:`fft_workers`)."""
    return _FFT_WORKERS.get()


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
        (:func:`fft_workers`).
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
      (:func:`fft_workers`); restored on exit.
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
        stack.enter_context(fft_workers(settings.fft))
        stack.enter_context(_tensorflow_threads(settings))
        _ACTIVE.append(settings)
        stack.callback(_ACTIVE.pop)
        yield settings
