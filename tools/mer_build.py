"""Sphinx extension of the book's build: chapters execute with no widget and cannot stall.

Listed in ``_config.yml`` (``sphinx.local_extensions``), so every
``jupyter-book build`` of this book loads it, whether started by ``make book``
or by hand.  It does these things before any chapter executes:

1. It sets ``MER_BOOK_BUILD=1``; the kernels that myst-nb starts inherit it,
   and the chapters then create no interactive widget (``mer_lib.env.live_widgets``):
   the book shows static figures.  Widgets were the cause of the chapter-7
   stall (issue 12): their comm traffic is what nbclient issue 312 reports
   as "when cell contains ipywidget, execute cell will sometimes block".
2. It installs :func:`install_stall_guard`: the executor's wait for a cell's
   reply polls its socket in slices of at most one second.  In the stall the
   reply had arrived, but the single wait for it woke only when the cell
   timeout (1200 s) expired, and the chapter then "executed in 1210 s" with
   no error.  Sliced, such a missed wake-up costs at most a second; a cell
   that really hangs still fails at the cell timeout with nbclient's
   "Cell execution timed out" naming the cell.
3. It installs :func:`install_stream_merge`: each cell's streams are merged
   once, into the cell itself (myst-nb's own merge left them twice in the
   written notebook), with redrawn progress-bar lines reduced to their last state.
4. When the environment variable ``MER_CELL_TIMES`` names a file, it
   installs :func:`install_cell_timer`: one JSON line per executed code cell
   (the chapter, the cell's index and first line, its seconds, its error).
   ``benchmarks/bench_book.py`` sets it to find where a build's time goes.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time

#: Longest single wait on a kernel socket, in seconds.
POLL_SLICE_S = 1.0
#: The environment variable naming the file the cell timer appends to.
CELL_TIMES_VARIABLE = "MER_CELL_TIMES"
#: The notebook being executed (set by the cell timer's hook on myst-nb).
_CURRENT = {"path": None}
#: What the cell timer replaced: (owner, attribute name, original), to put back.
_REPLACED: list = []


def install_stall_guard() -> bool:
    """Make jupyter_client's asynchronous ``get_msg`` poll in slices of ``POLL_SLICE_S``.

    Returns
    -------
    bool
        True when the guard was installed now, False when it already was.

    Notes
    -----
    ``AsyncZMQSocketChannel.get_msg(timeout)`` awaits one ``socket.poll(timeout)``;
    nbclient calls it with the whole cell timeout while it waits for a cell's
    ``execute_reply``.  The guard keeps the meaning (a message, or ``Empty``
    after ``timeout``) and re-polls every second, so a reply is never left
    unread for longer than that.  Written for jupyter_client 8 (bounded in
    ``pyproject.toml``).
    """
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    if getattr(AsyncZMQSocketChannel.get_msg, "_mer_stall_guard", False):
        return False

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            if await self.socket.poll(int(min(left, POLL_SLICE_S) * 1000)):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    get_msg._mer_stall_guard = True
    get_msg.__doc__ = AsyncZMQSocketChannel.get_msg.__doc__
    AsyncZMQSocketChannel.get_msg = get_msg
    return True


_CARRIAGE_RETURN = re.compile(r".*\r(?=[^\n])")     # a line redrawn after a carriage return: keep its last state
_BACKSPACE = re.compile("[^\n]\x08")                  # a character erased by a backspace


def merged_outputs(outputs):
    """A cell's outputs as the book shows them: each stream (stdout, stderr) merged into one output.

    The texts of a stream are joined as they came (a message may end in the
    middle of a line), carriage returns and backspaces are resolved as a
    terminal would (a redrawn line keeps its last state), and each stream
    takes the place of its first message; other outputs keep their order.
    The outputs given are left as they are.

    Parameters
    ----------
    outputs : list of nbformat.NotebookNode
        One code cell's outputs.

    Returns
    -------
    list of nbformat.NotebookNode
        New output nodes; at most one stream output per stream name.
    """
    merged, streams = [], {}
    for output in outputs:
        output = copy.deepcopy(output)
        if output.get("output_type") != "stream":
            merged.append(output)
        elif output["name"] in streams:
            streams[output["name"]]["text"] += output["text"]
        else:
            streams[output["name"]] = output
            merged.append(output)
    for output in streams.values():
        text = output["text"]
        while True:
            shorter = _BACKSPACE.sub("", text)
            if shorter == text:
                break
            text = shorter
        output["text"] = _CARRIAGE_RETURN.sub("", text)
    return merged


def install_stream_merge() -> bool:
    """Make myst-nb merge a cell's streams into the cell itself, once, instead of mutating the first stream.

    ``myst_nb.core.render`` calls ``coalesce_streams(outputs)`` on the cell's own
    output list and renders the list it returns; that function appends the
    later streams' text to the first stream *object*, which stays in the cell,
    while the later streams stay there too: the notebook written afterwards
    holds the text twice. The replacement merges a copy (:func:`merged_outputs`)
    and puts the result in the cell's list, so the written notebook is the
    page, and merging it again changes nothing. (It also joins the messages
    as they came, where myst-nb ends each one with a newline, which could
    break a line in two where a message ended mid-line.)

    Returns
    -------
    bool
        True when installed now, False when it already was.
    """
    from myst_nb.core import render

    if getattr(render.coalesce_streams, "_mer_stream_merge", False):
        return False

    def coalesce_streams(outputs):
        merged = merged_outputs(outputs)
        if isinstance(outputs, list):
            outputs[:] = merged
            return outputs
        return merged

    coalesce_streams._mer_stream_merge = True
    coalesce_streams.__doc__ = merged_outputs.__doc__
    render.coalesce_streams = coalesce_streams
    return True


def install_cell_timer(path) -> bool:
    """Append one JSON line per executed code cell to ``path``.

    Each line: ``notebook`` (the path myst-nb executes, or None when the cell
    was executed otherwise), ``cell`` (its index), ``first_line``,
    ``seconds`` (from the request to the reply, as nbclient waits for it) and
    ``error`` (the exception's type name, or None). Wraps nbclient's
    ``NotebookClient.async_execute_cell`` and, to know the notebook, myst-nb
    1.x's ``NotebookClientCache.start_client``.

    Returns
    -------
    bool
        True when the timer was installed now, False when it already was.
    """
    from nbclient import NotebookClient

    if getattr(NotebookClient.async_execute_cell, "_mer_cell_timer", False):
        return False
    path = str(path)
    execute_cell = NotebookClient.async_execute_cell

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        if cell.get("cell_type") != "code":
            return await execute_cell(self, cell, cell_index, *args, **kwargs)
        t0, error = time.monotonic(), None
        try:
            return await execute_cell(self, cell, cell_index, *args, **kwargs)
        except BaseException as err:
            error = type(err).__name__
            raise
        finally:
            record = {"notebook": _CURRENT["path"], "cell": cell_index,
                      "first_line": (cell.get("source", "").splitlines() or [""])[0][:120],
                      "seconds": round(time.monotonic() - t0, 3), "error": error}
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    async_execute_cell._mer_cell_timer = True
    _REPLACED.append((NotebookClient, "async_execute_cell", execute_cell))
    NotebookClient.async_execute_cell = async_execute_cell
    try:
        from myst_nb.core.execute.cache import NotebookClientCache
    except ImportError:         # not a myst-nb build: cells are recorded without their notebook
        return True
    start_client = NotebookClientCache.start_client

    def start(self):
        _CURRENT["path"] = None if self.path is None else str(self.path)
        return start_client(self)

    _REPLACED.append((NotebookClientCache, "start_client", start_client))
    NotebookClientCache.start_client = start
    return True


def remove_cell_timer() -> None:
    """Undo :func:`install_cell_timer` (nothing when it is not installed)."""
    while _REPLACED:
        owner, name, original = _REPLACED.pop()
        setattr(owner, name, original)
    _CURRENT["path"] = None


def prepare_build_environment() -> None:
    """Set ``MER_BOOK_BUILD=1`` (static figures, no widget), install the stall guard, the stream merge and, when
    asked, the cell timer."""
    os.environ["MER_BOOK_BUILD"] = "1"
    install_stall_guard()
    install_stream_merge()
    if os.environ.get(CELL_TIMES_VARIABLE):
        install_cell_timer(os.environ[CELL_TIMES_VARIABLE])


def setup(app):
    """Sphinx entry point."""
    prepare_build_environment()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
