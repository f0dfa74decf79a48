"""The book's build extension (tools/mer_build.py): no widget, no stalled reply."""

import asyncio
import os
import time

import mer_build
from jupyter_client.channels import AsyncZMQSocketChannel


class _LateWakingSocket:
    """A socket whose poll wakes only when its timeout expires, although a message
    is waiting: the missed wake-up of nbclient issue 312 (the reply had arrived)."""

    def __init__(self):
        self.polls = []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        await asyncio.sleep(timeout_ms / 1000)
        return 1


def test_stall_guard_reads_a_waiting_reply_within_a_second_not_at_the_cell_timeout():
    mer_build.install_stall_guard()
    assert getattr(AsyncZMQSocketChannel.get_msg, "_mer_stall_guard", False)
    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    channel.socket = _LateWakingSocket()

    async def recv():
        return {"msg_type": "execute_reply"}

    channel._recv = recv
    start = time.monotonic()
    msg = asyncio.run(channel.get_msg(timeout=60))
    assert msg["msg_type"] == "execute_reply"
    assert time.monotonic() - start < 5  # unguarded, this waits the whole 60 s
    assert max(channel.socket.polls) <= 1000


def test_stall_guard_still_times_out_when_no_message_comes():
    from queue import Empty

    mer_build.install_stall_guard()
    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)

    class Silent:
        async def poll(self, timeout_ms):
            await asyncio.sleep(timeout_ms / 1000)
            return 0

    channel.socket = Silent()
    start = time.monotonic()
    try:
        asyncio.run(channel.get_msg(timeout=1.5))
    except Empty:
        pass
    else:
        raise AssertionError("get_msg returned a message that never came")
    assert 1.4 < time.monotonic() - start < 4


def test_the_build_sets_static_mode_for_the_kernels(monkeypatch):
    monkeypatch.delenv("MER_BOOK_BUILD", raising=False)
    mer_build.prepare_build_environment()
    assert os.environ["MER_BOOK_BUILD"] == "1"
    from mer_lib.env import live_widgets
    assert not live_widgets()


def test_the_book_config_loads_the_build_extension():
    import book_tools

    config = book_tools.config()
    assert config["sphinx"]["local_extensions"] == {"mer_build": "tools/"}
    assert (book_tools.ROOT / "tools" / "mer_build.py").is_file()


def test_the_cell_timer_records_each_code_cell_of_an_executed_notebook(tmp_path):
    import json

    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    log = tmp_path / "cells.jsonl"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A"),
                                         nbformat.v4.new_code_cell("import time\ntime.sleep(0.2)"),
                                         nbformat.v4.new_code_cell("1 / 0")])
    try:
        assert mer_build.install_cell_timer(log)
        assert not mer_build.install_cell_timer(log)        # once per process
        result = single_nb_execution(nb, cwd=str(tmp_path), timeout=120, allow_errors=True)
    finally:
        mer_build.remove_cell_timer()
    assert result.err is None
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["cell"] for r in records] == [1, 2]
    assert records[0]["first_line"] == "import time" and records[0]["seconds"] >= 0.2
    assert all("notebook" in r and r["error"] is None for r in records)   # an error in a cell is its output
    from nbclient import NotebookClient
    assert not getattr(NotebookClient.async_execute_cell, "_mer_cell_timer", False)     # removed
def _split_streams():
    from nbformat.v4 import new_output

    return [new_output("stream", name="stdout", text="row 1\nrow 2\n"),
            new_output("stream", name="stdout", text="row 3\n"),
            new_output("stream", name="stderr", text="\rbar 50%\rbar 100%\n"),
            new_output("stream", name="stdout", text="row 4\n")]


def test_myst_nb_merge_alone_leaves_the_text_twice_in_the_cell():
    """The cause of issue 24's duplicated blocks: myst-nb's merge mutates the cell's first stream."""
    from myst_nb.core.utils import coalesce_streams

    cell_outputs = _split_streams()
    coalesce_streams(cell_outputs)          # what the page shows is right...
    text = "".join(o["text"] for o in cell_outputs if o["name"] == "stdout")
    assert text.count("row 3") == 2         # ...but the notebook written from the cell holds it twice


def test_the_build_merges_each_stream_once_into_the_cell_itself():
    from myst_nb.core import render

    mer_build.install_stream_merge()
    assert not mer_build.install_stream_merge()          # installed once
    cell_outputs = _split_streams()
    shown = render.coalesce_streams(cell_outputs)
    again = render.coalesce_streams(cell_outputs)          # a second render, or the written notebook read back
    for outputs in (shown, again, cell_outputs):
        streams = {o["name"]: o["text"] for o in outputs}
        assert len(outputs) == 2 and streams["stdout"] == "row 1\nrow 2\nrow 3\nrow 4\n"
        assert streams["stderr"] == "bar 100%\n"              # the redrawn bar's last state only
    original = _split_streams()
    merged = mer_build.merged_outputs(original)
    assert [o["text"] for o in original] == [o["text"] for o in _split_streams()]   # a copy: input untouched
    assert sorted(o["name"] for o in merged) == ["stderr", "stdout"]
