"""Files written whole or not at all, caches read back safely, folders one command at a time.

Every file the library writes goes through :func:`atomic_write`: a temporary
file beside the target is filled, then renamed into place, so an interrupted
run never leaves half a file. A folder that cannot take the file (a full
disk, a read-only folder) is named in a one-line
:class:`~mer_lib.errors.UserInputError`. :func:`load_npz` reads a cache file
back without pickle and treats a broken one as missing. :func:`folder_lock`
lets one command at a time write a folder.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["atomic_write", "atomic_write_text", "atomic_save_npz", "atomic_target", "load_npz", "make_folder",
           "folder_lock", "LOCK_NAME"]

#: What the environment, not the code, causes when a file cannot be written.
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}


def _storage_error(err, path):
    """A one-line UserInputError naming ``path`` for a full disk or a read-only folder; None otherwise."""
    if isinstance(err, OSError) and err.errno in _STORAGE_ERRORS:
        return UserInputError(f"cannot write {str(path)!r}: {err.strerror or err}")
    return None


def make_folder(path):
    """Create a folder (and its parents); a folder that cannot be made is a one-line error naming it.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserInputError(f"{str(path)!r} is a file; expected a folder") from None
    except OSError as err:
        named = _storage_error(err, path)
        if named is None:
            raise
        raise named from None
    return path


@contextlib.contextmanager
def atomic_target(path, suffix=""):
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends without error.

    For writers that take a file name (``keras.Model.save``); the temporary
    file is removed on any error or interruption. Parameters and errors as
    :func:`atomic_write`.

    Yields
    ------
    pathlib.Path
    """
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix or path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as err:
        named = _storage_error(err, path)
        if named is None:
            raise
        raise named from None
    try:
        yield Path(tmp)
        # mkstemp creates the file 0600; a result file gets the user's usual permissions
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        named = _storage_error(err, path)
        if named is None:
            raise
        raise named from None


def atomic_write(path, write, suffix=""):
    """Write a file atomically, with the user's usual permissions.

    ``write(f)`` fills a temporary file beside ``path`` (opened in binary
    mode), which is then renamed into place: a reader sees the old file or the
    new one, never half of one.

    Parameters
    ----------
    path : str or Path
    write : callable
        ``write(binary_file)``.
    suffix : str
        Of the temporary file's name.

    Raises
    ------
    UserInputError
        The folder cannot take the file (full disk, read-only, no permission);
        the message names ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.bin", lambda f: f.write(b"abc"))
    >>> (folder / "a.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
    (b'abc', ['a.bin'])
    """
    with atomic_target(path, suffix=suffix) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def atomic_write_text(path, text):
    """Write text (UTF-8) to ``path`` atomically (see :func:`atomic_write`).

    Parameters
    ----------
    path : str or Path
    text : str
    """
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_save_npz(path, **arrays) -> None:
    """Write arrays to ``path`` (.npz) atomically (see :func:`atomic_write`).

    Parameters
    ----------
    path : str or Path
    **arrays : ndarray
        Plain numeric or string arrays (no objects: read back without pickle).
    """
    atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (thread-safe)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_npz(path, keys=()):
    """Read a cache file written by :func:`atomic_save_npz`; None if missing or broken.

    A broken file (not a zip archive, cut short, unreadable, or lacking one of
    ``keys``) is not trusted: a warning names it and says that it will be
    recomputed, and None is returned so that the caller recomputes it.

    Parameters
    ----------
    path : str or Path
    keys : sequence of str
        Arrays the file must hold.

    Returns
    -------
    dict of ndarray or None
    """
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
        absent = [k for k in keys if k not in out]
        if absent:
            raise KeyError(f"no array {', '.join(absent)}")
        return out
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        warnings.warn(f"cache file {path} is broken ({type(err).__name__}: {err}); recomputing it", stacklevel=2)
        return None


# ---------------------------------------------------------------------------------------------------------------
# One command at a time in a folder
# ---------------------------------------------------------------------------------------------------------------

#: The lock file a command holds in the folder it writes.
LOCK_NAME = ".mer.lock"


def _process_start(pid):
    """The start time of a process (clock ticks since boot, Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid, started):
    """Whether the process that wrote a lock is still running (the same pid and the same start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _process_start(pid)
    return started is None or now is None or now == started


@contextlib.contextmanager
def folder_lock(folder, command="", option="--out"):
    """Hold ``folder/.mer.lock`` while a block writes the folder; another holder is refused at once.

    The lock file names the process (pid, host, start time) and its command.
    It is removed when the block ends, whatever the way (an error, Ctrl-C, a
    SIGTERM turned into an exception). A lock left by a process that no longer
    runs (killed with SIGKILL, a machine that lost power) is stale: it is
    replaced, with a warning. A lock held by a running process, or written on
    another host, is a refusal.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    command : str
        What the holder is doing (shown to a command that is refused).
    option : str
        The option that named the folder, for the message.

    Raises
    ------
    UserInputError
        Another running command holds the folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with folder_lock(folder, "demo"):
    ...     (folder / LOCK_NAME).exists()
    True
    >>> (folder / LOCK_NAME).exists()
    False
    """
    folder = make_folder(folder)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid()),
          "command": command, "since": datetime.datetime.now().isoformat(timespec="seconds")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
                pid, host = int(holder["pid"]), holder.get("host")
            except FileNotFoundError:
                continue                               # released meanwhile: try again
            except (OSError, ValueError, KeyError, TypeError):
                holder, pid, host = {}, None, None     # unreadable: written by a process killed mid-write
            if pid is not None and (host != me["host"] or _alive(pid, holder.get("started"))):
                raise UserInputError(
                    f"{option} {str(folder)!r} is in use by another command (pid {pid} on {host}, since "
                    f"{holder.get('since')}: {holder.get('command') or 'unknown'}); wait for it to finish, or use "
                    "another folder") from None
            warnings.warn(f"{path}: a stale lock of a process that no longer runs (pid {pid}); taken over",
                          stacklevel=3)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        except OSError as err:
            named = _storage_error(err, path)
            if named is None:
                raise
            raise named from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        break
    else:
        raise UserInputError(f"{option} {str(folder)!r}: could not take its lock file {path}")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
