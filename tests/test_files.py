"""`unmask.files`: the rules for every file the library and the CLI write."""

import os
import stat
import threading

import pytest

from unmask.files import OutputError, OutputExists, check_folder, check_output, current_umask, write_output

is_root = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_file_mode_follows_the_umask(tmp_path, umask, mask):
    """A created file has mode 0o666 & ~umask (not the 0o600 of a bare temporary file), and the
    umask is read without being changed."""
    umask(mask)
    path = tmp_path / "new.txt"
    write_output(path, "data\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_text() == "data\n"
    assert current_umask() == mask


def test_overwrite_needs_force_and_keeps_the_mode(tmp_path):
    """An existing regular file is refused without force (check and write, content unchanged);
    with force it is replaced and keeps its own mode."""
    path = tmp_path / "old.txt"
    path.write_text("old")
    path.chmod(0o640)
    with pytest.raises(OutputExists):
        check_output(path)
    with pytest.raises(OutputExists):
        write_output(path, "new")
    assert path.read_text() == "old"
    check_output(path, force=True)
    write_output(path, b"new", force=True)
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]  # no temporary file left


def test_fifo_is_written_in_place(tmp_path):
    """A FIFO is opened and written (a reader receives the bytes) and stays a FIFO, without force."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    check_output(fifo)
    write_output(fifo, b"through the pipe\n")
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_dev_null_stays_a_character_device():
    """/dev/null is written in place without force and is still a character device afterwards."""
    check_output("/dev/null")
    write_output("/dev/null", "discarded")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_symlink_is_followed_and_stays_a_link(tmp_path):
    """Through a symlink the write goes to its target (created when missing, replaced with force
    when present); the link itself stays a link to the same target."""
    target = tmp_path / "real.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(target.name)
    write_output(link, "first")  # dangling link: the target is created
    assert target.read_text() == "first" and link.is_symlink()
    with pytest.raises(OutputExists):
        write_output(link, "second")
    write_output(link, "second", force=True)
    assert target.read_text() == "second"
    assert link.is_symlink() and os.readlink(link) == target.name


def test_stdout(capsysbinary):
    """'-' is standard output; nothing is created on disk."""
    check_output("-")
    write_output("-", "to stdout\n")
    assert capsysbinary.readouterr().out == b"to stdout\n"
    assert not os.path.exists("-")


def test_folders_and_blocked_paths_are_refused_without_side_effects(tmp_path):
    """A folder given as a file, and a path under a regular file, are refused by the check and by
    the write; the check creates nothing (a missing parent is created only when writing)."""
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="is a folder"):
        write_output(tmp_path, "x", force=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        check_output(blocker / "sub" / "out.txt")
    with pytest.raises(OutputError, match="not a folder"):
        check_folder(blocker)
    missing = tmp_path / "a" / "b" / "out.txt"
    check_output(missing)
    check_folder(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()
    write_output(missing, "x")
    assert missing.read_text() == "x"


@pytest.mark.skipif(is_root, reason="root may write anywhere")
def test_unwritable_places_are_refused(tmp_path):
    """A folder without write permission, and a read-only file even with force, are refused by
    the check."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "old.txt").write_text("old")
    (tmp_path / "readonly.txt").write_text("old")
    (tmp_path / "readonly.txt").chmod(0o444)
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            check_output(locked / "new.txt")
        with pytest.raises(OutputError, match="cannot write"):
            check_output(locked / "old.txt", force=True)
        with pytest.raises(OutputError, match="cannot write"):
            check_folder(locked)
        with pytest.raises(OutputError, match="permission denied"):
            check_output(tmp_path / "readonly.txt", force=True)
    finally:
        locked.chmod(0o700)
