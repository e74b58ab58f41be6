"""Write a file so readers see either the old contents or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import HarnessError


class WriteFailed(HarnessError, OSError):
    """A file could not be written (a full disk, a read-only folder…): one line naming it.
    Still an OSError, so code that cleans up after failed writes sees it as one."""

    def __init__(self, path: Path | str, cause: OSError):
        super().__init__(cause.errno, cause.strerror)
        self.filename = str(path)
        self.message = f"cannot write {path}: {cause.strerror or cause}"

    def __str__(self) -> str:
        return self.message


def write_atomic(path: Path | str, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`.

    A write that fails (a full disk) leaves `path` as it was and no temporary file, and
    raises `WriteFailed`. The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600, so a
    report or a record can be served or shared like any file the user writes.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise WriteFailed(path, e) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)  # a full disk keeps no half-written temporary file either
        if isinstance(e, OSError):
            raise WriteFailed(path, e) from None
        raise
    return path
