"""Which process holds a TCP socket, read from /proc (Linux): the listeners of a port, and the
process that accepted a given client connection. Several processes may listen on one port
with SO_REUSEPORT; these tell them apart."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

LISTEN = "0A"
ESTABLISHED = "01"


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)  # "0100007F:1F91": host and port in hex


def _inodes(local_port: int, state: str, remote_port: int | None = None) -> set[str]:
    """Inodes of the sockets on `local_port` in `state` (and from `remote_port`, if given)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, st, inode = fields[1], fields[2], fields[3], fields[9]
            if st != state or _port(local) != local_port:
                continue
            if remote_port is None or _port(remote) == remote_port:
                found.add(inode)
    return found


def _holders(inodes: set[str], pids: Iterable[int]) -> set[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders = set()
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError:  # gone, or not ours to read
            continue
        for name in names:
            try:
                if os.readlink(f"{folder}/{name}") in wanted:
                    holders.add(pid)
                    break
            except OSError:
                continue
    return holders


def listening(port: int, pids: Iterable[int]) -> set[int]:
    """Those of `pids` that listen on `port`."""
    return _holders(_inodes(port, LISTEN), pids)


def accepted_by(port: int, client_port: int, pids: Iterable[int]) -> set[int]:
    """Those of `pids` holding the server end of the connection from `client_port` to `port`."""
    return _holders(_inodes(port, ESTABLISHED, client_port), pids)
