"""Output files that are safe to write: the rules every file ``unmask`` writes follows.

* ``"-"`` names standard output.
* A symbolic link is followed: the write goes to the file it resolves to, and the link stays a link.
* A missing file is created atomically (a temporary file in the same folder, written, synced, then
  renamed over the name), with mode ``0o666 & ~umask`` like any file a shell would create.
  Missing parent folders are created.
* An existing regular file is replaced atomically only with ``force=True``; it keeps its mode
  (and, where the process may set it, its owner).
* A character device (``/dev/null``, a terminal) or a FIFO is opened and written in place: it is
  never replaced by a regular file. A block device holds data, so it needs ``force=True`` as a
  regular file does, and is written in place too.
* A folder, a socket, or anything else is refused.

A folder of files (:func:`write_folder`) is written whole or not at all: into a new folder beside
the destination, renamed into place once complete (replacing an existing folder, with ``force``,
which is removed only then); its files and folders get the modes of new ones under the umask,
whatever modes the libraries that wrote them chose.

:func:`check_output` applies these rules without writing anything, so that a command can refuse
a bad destination before it starts any work; :func:`write_output` applies them again when it
writes. Both raise :class:`OutputError` (an ``OSError``) with a one-line reason, and
:class:`OutputExists` when only ``force`` is missing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: The path that names standard output.
STDOUT = "-"


class OutputError(OSError):
    """A destination that cannot or must not be written; ``str(error)`` is a one-line reason."""


class OutputExists(OutputError):
    """The destination holds data (a regular file or a block device) and ``force`` was not given."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        super().__init__(f"{self.path!r} exists; pass force=True to overwrite it")


def is_stdout(path: str | os.PathLike) -> bool:
    """Whether ``path`` is ``"-"`` (standard output)."""
    return os.fspath(path) == STDOUT


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux
    ``/proc/self/status``); elsewhere it is set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode of a newly created file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _stat(path: str | os.PathLike, target: Path) -> os.stat_result | None:
    """``os.stat`` of the resolved ``target``, ``None`` when it does not exist."""
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise OutputError(f"cannot write {os.fspath(path)!r}: {_reason(error)}") from None


def _probe_folder(folder: Path, shown: str) -> None:
    """Prove that files can be created in ``folder`` (or, when it is missing, that it can be
    created: its nearest existing ancestor is a folder we can create entries in)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write to {shown!r}: {str(existing)!r} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".unmask-write-test")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(f"cannot write to {shown!r}: {_reason(error)}") from None


def check_folder(folder: str | os.PathLike) -> None:
    """Raise :class:`OutputError` unless ``folder`` is a folder we can create files in, or is
    missing and can be created. Creates nothing."""
    path = Path(os.path.realpath(folder))
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write to {os.fspath(folder)!r}: it is not a folder")
    _probe_folder(path, os.fspath(folder))


def _destination(path: str | os.PathLike, force: bool) -> tuple[str, Path, os.stat_result | None]:
    """How the module's rules write ``path``: ``(action, target, stat)`` with ``action`` one of
    ``"stdout"``, ``"create"`` (missing: atomic), ``"replace"`` (a regular file: atomic, with
    ``force``) or ``"in place"`` (a device or FIFO), ``target`` the resolved path. Raises
    :class:`OutputError` for a destination the rules refuse."""
    if is_stdout(path):
        return "stdout", Path(STDOUT), None
    shown = os.fspath(path)
    target = Path(os.path.realpath(path))
    info = _stat(path, target)
    if info is None:
        return "create", target, None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise OutputError(f"{shown!r} is a folder; give a file name")
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        if not force:
            raise OutputExists(shown)
        return ("replace" if stat.S_ISREG(mode) else "in place"), target, info
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "in place", target, info
    raise OutputError(f"cannot write {shown!r}: it is neither a regular file, a device nor a FIFO")


def check_output(path: str | os.PathLike, force: bool = False) -> None:
    """Raise :class:`OutputError` if :func:`write_output` would refuse ``path`` or fail to
    write it (see the module's rules), without writing, opening or creating anything.

    Raises :class:`OutputExists` for an existing regular file (or block device) without ``force``.
    """
    action, target, _ = _destination(path, force)
    shown = os.fspath(path)
    if action in ("replace", "in place") and not os.access(target, os.W_OK):
        raise OutputError(f"cannot write {shown!r}: permission denied")
    if action in ("create", "replace"):
        _probe_folder(target.parent, shown)  # an atomic write creates a file beside the target


def write_output(path: str | os.PathLike, data: bytes | str, force: bool = False) -> None:
    """Write ``data`` (``str`` is encoded as UTF-8) to ``path`` under the module's rules:
    ``"-"`` is standard output; symlinks are followed; a missing file is created atomically
    with mode ``0o666 & ~umask``; an existing regular file is replaced atomically, keeping its
    mode, only with ``force`` (else :class:`OutputExists`); character devices and FIFOs are
    written in place. Raises :class:`OutputError` (or the ``OSError`` of a failed write)."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    action, target, info = _destination(path, force)
    if action == "stdout":
        _write_stdout(payload)
    elif action == "create":
        _write_atomic(target, payload, new_file_mode(), None)
    elif action == "replace":
        _write_atomic(target, payload, stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid))
    else:
        _write_in_place(target, payload)


def _write_stdout(payload: bytes) -> None:
    stream = sys.stdout
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(payload)
        buffer.flush()
    else:
        stream.write(payload.decode())
        stream.flush()


def _write_in_place(target: Path, payload: bytes) -> None:
    """Open an existing special file for writing (never creating one) and write everything."""
    handle = os.open(target, os.O_WRONLY)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


def _write_atomic(target: Path, payload: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Temporary file beside ``target``, written, given ``mode`` (and ``owner`` where allowed),
    synced, then renamed over ``target``; the folder is synced after the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            if owner is not None:
                # Only a privileged process may give a file away; otherwise the file is ours.
                with contextlib.suppress(OSError):
                    os.fchown(stream.fileno(), *owner)
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        folder = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(folder)
    finally:
        os.close(folder)


def check_output_folder(out: str | os.PathLike, force: bool = False) -> Path:
    """``out`` as a path, after checking that :func:`write_folder` may write it: a missing folder,
    an empty one, or (with ``force``) a non-empty one; a symlink or anything that is not a folder
    is refused (:class:`OutputError`), a non-empty folder without ``force`` too
    (:class:`OutputExists`)."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, got {type(out).__name__}")
    destination = Path(out)
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise OutputError(f"{str(destination)!r} exists and is not a folder; give a new folder")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise OutputExists(destination)
    return destination


def _give_new_file_modes(folder: Path) -> None:
    """Give every file under ``folder`` the mode of a new file (``0o666 & ~umask``) and every
    folder ``0o777 & ~umask``: the libraries that write them may go through private temporary
    files (``0o600``)."""
    file_mode = new_file_mode()
    folder_mode = 0o777 & ~current_umask()
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), folder_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)


def write_folder(destination: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(folder)`` on a new folder beside ``destination``, give what it wrote the modes
    of new files and folders, then rename it into place (over an existing ``destination``, which
    is removed only then: call :func:`check_output_folder` first). Returns ``destination``."""
    parent = destination.parent
    parent.mkdir(parents=True, exist_ok=True)
    partial = parent / f".{destination.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(partial)  # mode 0o777 & ~umask
    try:
        write(partial)
        _give_new_file_modes(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = None
    if destination.exists():
        old = parent / f".{destination.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(destination, old)
    os.rename(partial, destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return destination
