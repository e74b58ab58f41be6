"""Content digests of local files (sha256 for identity, md5 for targets without sha256sum).

Models are hashed when resolved and again at every push, so each file version is
hashed once per process: cached by (path, size, mtime, inode), except for a file
modified in the last seconds, whose mtime may not move with its next change.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path


def sha256_of(path: Path) -> str:
    return _digest_of("sha256", path)


def md5_of(path: Path) -> str:
    return _digest_of("md5", path)


# (algo, realpath, size, mtime_ns, inode) -> hex digest. Models are hashed when resolved
# and again at every push: hash each file version once per process.
_DIGESTS: dict[tuple, str] = {}
_DIGESTS_LOCK = threading.Lock()
#: a file modified this recently may change again within the same (coarse) mtime tick
RACY_S = 2.0


def _digest_of(algo: str, path: Path) -> str:
    st = os.stat(path)
    key = (algo, os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _DIGESTS_LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    h = hashlib.new(algo)  # md5: content comparison only, for targets without sha256sum
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if time.time() - st.st_mtime > RACY_S:  # as git does with racy timestamps
        with _DIGESTS_LOCK:
            if len(_DIGESTS) > 1024:
                _DIGESTS.clear()
            _DIGESTS[key] = digest
    return digest
