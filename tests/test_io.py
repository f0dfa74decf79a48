"""mer_lib._io: files written whole or not at all, storage errors in one line, one command at a time in a folder."""

import errno
import json
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest

from mer_lib import _io
from mer_lib.errors import UserInputError


def test_a_written_file_has_the_users_usual_permissions_and_no_temporary_is_left(tmp_path):
    old = os.umask(0o027)
    try:
        _io.atomic_save_npz(tmp_path / "a.npz", x=np.arange(3))
        _io.atomic_write_text(tmp_path / "sub" / "b.txt", "hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == 0o640
    assert (tmp_path / "sub" / "b.txt").read_text() == "hello"
    assert _io.load_npz(tmp_path / "a.npz", keys=("x",))["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.rglob(".tmp-*")) == []


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only"),
                                         (errno.EACCES, "Permission denied")])
def test_a_full_disk_or_a_read_only_folder_is_one_line_naming_the_file(tmp_path, monkeypatch, code, words):
    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(UserInputError, match=re.escape(f"cannot write '{tmp_path / 'a.json'}': {words}")) as err:
        _io.atomic_write_text(tmp_path / "a.json", "{}")
    assert "\n" not in str(err.value) and not list(tmp_path.iterdir())
    monkeypatch.undo()
    monkeypatch.setattr(os, "mkdir", fails)
    with pytest.raises(UserInputError, match=re.escape(f"cannot write '{tmp_path / 'new' / 'deeper'}'")):
        _io.make_folder(tmp_path / "new" / "deeper")


def test_an_error_that_is_not_the_storages_keeps_its_type(tmp_path):
    def broken(f):
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError, match="a bug"):
        _io.atomic_write(tmp_path / "x.bin", broken)
    assert not list(tmp_path.iterdir())


def test_a_folder_lock_is_released_on_every_way_out(tmp_path):
    for error in (RuntimeError, KeyboardInterrupt, SystemExit):
        with pytest.raises(error):
            with _io.folder_lock(tmp_path, "test"):
                assert (tmp_path / _io.LOCK_NAME).exists()
                raise error()
        assert not (tmp_path / _io.LOCK_NAME).exists()


def test_a_folder_held_by_a_running_command_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / _io.LOCK_NAME
        lock.write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename,
                                    "started": _io._process_start(holder.pid), "command": "mer train --out x"}))
        with pytest.raises(UserInputError, match=r"in use by another command \(pid \d+ .*mer train --out x"):
            with _io.folder_lock(tmp_path, "mer train --out x"):
                pass
        assert lock.exists()                       # the holder's lock is left alone
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UserWarning, match="stale lock"):         # its process is gone: SIGKILL, a power cut
        with _io.folder_lock(tmp_path, "again"):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()
    lock.write_text('{"pid": 12')                 # a lock cut short while it was written
    with pytest.warns(UserWarning, match="stale lock"):
        with _io.folder_lock(tmp_path, "again"):
            pass


def test_prepare_keeps_its_public_names_of_the_writers():
    from mer_lib.data import prepare

    assert prepare.atomic_save_npz is _io.atomic_save_npz and prepare.load_npz is _io.load_npz
