"""Reading a known_hosts file as OpenSSH writes it (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).

paramiko's own loader raises on the first line it cannot parse, and marker lines
(``@cert-authority``, ``@revoked``) are such lines. Here every line is read on its own:

- plain and hashed (``|1|…``) host lines become paramiko host keys;
- ``@revoked PATTERNS KEY``: that key is refused for every host — the key itself is
  compromised — even when another line lists it as known, and is never trusted on first
  use;
- ``@cert-authority PATTERNS KEY``: paramiko cannot check host certificates, so the line
  is ignored with a note (the host's own key must be listed to connect);
- a line that is not a host key (bad base64, unknown key type, a marker without a key) is
  skipped with a note naming ``file:line``, as OpenSSH skips it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey


@dataclass
class KnownHosts:
    path: Path
    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    #: (key type, base64) of revoked keys -> "file:line" of the @revoked line
    revoked: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def revoked_at(self, key: paramiko.PKey) -> str | None:
        """``file:line`` of the @revoked line listing `key`, or None."""
        return self.revoked.get((key.get_name(), key.get_base64()))


def read_known_hosts(path: Path, into: paramiko.HostKeys | None = None) -> KnownHosts:
    """The file's host keys (added to `into`, e.g. an `SSHClient`'s), revoked keys and notes
    about lines it skipped. OSError if the file cannot be read."""
    kh = KnownHosts(path, into if into is not None else paramiko.HostKeys())
    text = path.read_bytes().decode("utf-8", errors="replace")
    entries: list[HostKeyEntry] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        marker = line.split(None, 1)[0] if line.startswith("@") else None
        if marker is not None:
            fields = line.split()
            if marker not in ("@revoked", "@cert-authority") or len(fields) < 4:
                kh.notes.append(f"known_hosts {where}: marker line {marker!r} without patterns and key: skipped")
                continue
            if marker == "@cert-authority":
                kh.notes.append(f"known_hosts {where}: @cert-authority lines are ignored (host certificates are "
                                f"not checked); list the host's own key to connect to it")
                continue
            kh.revoked[(fields[2], fields[3])] = where
            continue
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except (InvalidHostKey, paramiko.SSHException, ValueError, IndexError) as e:
            kh.notes.append(f"known_hosts {where}: not a host key line, skipped ({e.__class__.__name__})")
            continue
        if entry is None:  # paramiko returns None for lines with too few fields or unknown key types
            kh.notes.append(f"known_hosts {where}: not a host key line (unknown key type or too few fields), skipped")
            continue
        entries.append(entry)
    for entry in entries:
        if kh.revoked_at(entry.key) is not None:
            continue  # a revoked key is never known
        for name in entry.hostnames:
            kh.keys.add(name, entry.key.get_name(), entry.key)
    return kh
