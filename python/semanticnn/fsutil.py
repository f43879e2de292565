"""Output files that appear whole or not at all, and never replace what they should not.

Every file a command writes goes through `atomic_writer`:

- a regular file (or none yet) is replaced atomically: the data goes to an unnamed
  temporary file in the same folder (`O_TMPFILE`; a named one where the file system
  lacks it), is fsynced, takes the old file's permissions (or the umask's for a new
  one), and is then renamed over the target, whose folder is fsynced too. A crash or
  `kill -9` midway leaves the old file and, with `O_TMPFILE`, no temporary behind;
- a symbolic link is followed: its target is written, the link stays a link;
- a FIFO or a character device (`--out /dev/stdout`) is written in place, as a
  stream: there is no file to replace;
- a folder, or a path under a regular file, is refused with a one-line error before
  anything is written (`check_output_file`, which the CLI also calls when it parses
  `--out`, so that no work is done for an output that cannot be written).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(".")


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a file an output can go to; a ValueError/OSError naming what is wrong."""
    text = os.fspath(path)
    if not text:
        raise ValueError("output path is empty")
    target = Path(os.path.realpath(text))
    if target.is_dir():
        raise IsADirectoryError(f"{text} is a folder; name a file to write")
    ancestor = _existing_ancestor(target)
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{text}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK) and not target.exists():
        raise PermissionError(f"{text}: cannot create files in {ancestor}")
    return target


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """`path` as a folder outputs can go to (it may not exist yet)."""
    text = os.fspath(path)
    if not text:
        raise ValueError("output folder is empty")
    target = Path(text)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{text} is a file, not a folder")
    ancestor = _existing_ancestor(target)
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{text}: {ancestor} is a file, not a folder")
    return target


def _open_temporary(folder: Path, mode: int) -> tuple[int, Path | None]:
    """An unnamed file in `folder` (None), or a named one where O_TMPFILE is missing."""
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        try:
            return os.open(folder, tmpfile | os.O_WRONLY | os.O_CLOEXEC, mode), None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    name = folder / f".{secrets.token_hex(8)}.tmp"
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), name


def _link_unnamed(fd: int, name: Path) -> None:
    """Give the O_TMPFILE file `fd` a name: linkat(AT_SYMLINK_FOLLOW) on its
    /proc/self/fd entry, as open(2) describes (Python's os.link uses plain link(2),
    which does not follow that entry, unless a directory fd is given)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file whose bytes replace `path` when the block ends without an error
    (see the module's docstring); on an error `path` is left as it was."""
    target = check_output_file(path)
    try:
        kind = os.stat(target).st_mode
    except FileNotFoundError:
        kind = None
    if kind is not None and (stat.S_ISFIFO(kind) or stat.S_ISCHR(kind)):
        with open(target, "wb") as stream:
            yield stream
        return
    if kind is not None and not stat.S_ISREG(kind):
        raise ValueError(f"{path}: not a regular file, a FIFO or a character device")
    mode = stat.S_IMODE(kind) if kind is not None else _umask_mode()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, named = _open_temporary(target.parent, mode)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            yield f
            f.flush()
            os.fchmod(fd, mode)
            os.fsync(fd)
        if named is None:
            named = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
            _link_unnamed(fd, named)
        os.replace(named, target)
        named = None
        _fsync_folder(target.parent)
    finally:
        os.close(fd)
        if named is not None:
            named.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_writer(path) as f:
        f.write(text.encode())


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)
