"""Writing files so that a crash leaves the old content or the new, never half."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_private(path: Path, data: bytes, check: Callable[[Path], object] | None = None) -> None:
    """Replace `path` by `data` atomically, readable by root only. `check`, given the
    written file before it replaces `path`, may refuse it by raising (`path` unchanged)."""
    write_private_with(path, lambda file: file.write(data), check)


def write_private_with(
    path: Path, write: Callable[[BinaryIO], object], check: Callable[[Path], object] | None = None
) -> None:
    """`write_private` of what `write` writes to the file it is given (a large file made
    piece by piece, never whole in memory); an exception from `write` leaves `path`
    unchanged."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if check is not None:
            check(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
