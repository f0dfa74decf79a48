"""One way to run work in worker processes, and to stop it: Ctrl-C and SIGTERM alike.

:func:`run_in_processes` is what :func:`mer_lib.pipeline.preprocess` and
:func:`mer_lib.experiments.reproduce` use. Its workers are started with
``spawn`` (the parent may already run TensorFlow's threads), ignore SIGINT
(Ctrl-C reaches every process of a terminal's group: the parent alone handles
it) and leave at once on SIGTERM. When the parent is interrupted (Ctrl-C, a
notebook's stop button, or a SIGTERM turned into :class:`Terminated` by
:func:`sigterm_raises`) or fails, every worker gets SIGTERM, is killed if it
has not left after a grace period, and the pool is shut down before the
exception goes on: nothing is left running (the resource tracker leaves with
the parent), and what finished is kept by the caller. A worker whose parent
dies without a word (SIGKILL) notices within a second and leaves too.
With ``tasks_per_process``, the workers are replaced by fresh ones after about
that many items each: what a library keeps from one item to the next (TensorFlow's
runtime keeps part of every training) is returned to the system with the
process, so a long plan's memory does not grow with its length.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

__all__ = ["run_in_processes", "sigterm_raises", "Terminated"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread (:func:`sigterm_raises`): stop as for Ctrl-C, with cleanup."""


class _Stopped(SystemExit):
    """Raised in a worker by SIGTERM: the parent stopped the work."""


def _raise_terminated(signum, frame):
    raise Terminated(f"terminated by signal {signum}")


@contextlib.contextmanager
def sigterm_raises():
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (cleanup runs, then exit).

    Python's default for SIGTERM ends the process at once: no ``finally``
    block runs, so worker processes, lock files and temporary files are left
    behind. Outside the main thread, or when the program already handles
    SIGTERM, this does nothing. The previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_worker(signum, frame):
    raise _Stopped(1)


def _watch_parent(parent):
    """Leave when the parent process is gone (it was killed without stopping its workers)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(parent, initializer, initargs):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _call(fn, item):
    try:
        return fn(item)
    except _Stopped:
        # atomic writers have removed their temporary files while this unwound; leave at once, without
        # taking the next item from the queue
        os._exit(1)


def _stop_workers(pool, grace_s):
    """Stop a ProcessPoolExecutor's workers now, and wait until they have.

    concurrent.futures has no public way to stop running workers: its shutdown
    waits for them, so they would go on with the queued items. Each worker
    gets SIGTERM (it unwinds, removing its temporary files, and exits) and is
    killed if it has not exited after ``grace_s`` seconds.
    """
    # (No future is cancelled here: the pool's manager thread fails the pending ones itself when it sees its
    # workers gone, and in Python 3.11 it dies on a cancelled one, leaving its queue feeder blocked.)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    with _signals_held():               # a second Ctrl-C or SIGTERM waits for this
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in processes:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        # A worker stopped while it sent its result leaves half a message in the result pipe, and the pool's
        # manager thread would wait for the rest forever (and shutdown, and the interpreter's exit, with it).
        # This process holds the pipe's other writing end: closing it lets the manager thread read the end of
        # the stream instead, and give up as it does for a broken pool.
        writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
        if writer is not None:
            writer.close()
        pool.shutdown(wait=True)


@contextlib.contextmanager
def _signals_held():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_in_processes(fn, items, n_jobs, on_result, *, initializer=None, initargs=(), grace_s=5.0,
                     tasks_per_process=None):
    """Call ``fn(item)`` for every item in ``n_jobs`` worker processes; ``on_result`` in this one as each ends.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled by name); ``fn(item)`` runs in
        a worker.
    items : sequence
        Picklable.
    n_jobs : int
        Worker processes (at least 1; at most one per item is started).
    on_result : callable
        ``on_result(value)``, called in this process, in the order the items
        finish.
    initializer : callable, optional
        Run once in each worker after its signal handling is set up.
    initargs : tuple
    grace_s : float
        How long a stopped worker may take to leave before it is killed.
    tasks_per_process : int, optional
        Replace the workers regularly: the items are run in rounds of
        ``n_jobs * tasks_per_process``, each round in a pool of fresh workers
        that leave when it ends (with one worker, exactly this many items per
        process). Default: one pool for all the items.

    Raises
    ------
    KeyboardInterrupt, Terminated
        After the workers are stopped (Ctrl-C, SIGTERM).
    Exception
        The first error of a worker or of ``on_result``, after the workers are
        stopped.
    """
    items = list(items)
    if tasks_per_process is not None and (isinstance(tasks_per_process, bool) or int(tasks_per_process) < 1):
        raise ValueError(f"tasks_per_process must be a positive integer or None, got {tasks_per_process!r}")
    step = len(items) if tasks_per_process is None else int(n_jobs) * int(tasks_per_process)
    for start in range(0, len(items), max(step, 1)):
        _run_pool(fn, items[start:start + step], n_jobs, on_result, initializer, initargs, grace_s)


def _run_pool(fn, items, n_jobs, on_result, initializer, initargs, grace_s):
    """One pool of fresh workers for ``items`` (:func:`run_in_processes`), shut down when they are done."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if not items:
        return
    pool = ProcessPoolExecutor(min(int(n_jobs), len(items)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(), initializer, tuple(initargs)))
    with sigterm_raises():
        try:
            futures = [pool.submit(_call, fn, item) for item in items]
            for future in as_completed(futures):
                on_result(future.result())
        except BaseException:
            _stop_workers(pool, grace_s)
            raise
        pool.shutdown(wait=True)
