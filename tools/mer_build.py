"""Sphinx extension of the book's build: chapters execute with no widget and cannot stall.

Listed in ``_config.yml`` (``sphinx.local_extensions``), so every
``jupyter-book build`` of this book loads it, whether started by ``make book``
or by hand.  It does two things before any chapter executes:

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
"""

from __future__ import annotations

import copy
import os
import re
import time

#: Longest single wait on a kernel socket, in seconds.
POLL_SLICE_S = 1.0


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


def prepare_build_environment() -> None:
    """Set ``MER_BOOK_BUILD=1`` (static figures, no widget), install the stall guard and the stream merge."""
    os.environ["MER_BOOK_BUILD"] = "1"
    install_stall_guard()
    install_stream_merge()


def setup(app):
    """Sphinx entry point."""
    prepare_build_environment()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
