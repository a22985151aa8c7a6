"""Who owns a stored lock or trial, and whether that owner still lives.

An owner is recorded as its host, pid, boot id and pid namespace (and, for locks, a beat
time in the database server's clock). A pid means something only in the pid namespace of the
boot it was read in: containers with host networking share a hostname while each sees its own
pids, and a reboot reuses them. So an owner is judged by its pid only when all four match this
process's; anywhere else (another host, another container, an owner stored without them) by
its heartbeat, measured against the database server's clock, never against two hosts' clocks.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from optuna.storages import RDBStorage

from hpsearch.timing import LOCK_GRACE_S

NAMESPACE_KEYS = ("host", "boot_id", "pid_ns")


def identity() -> dict[str, Any]:
    """This process: its host and pid, stored with the trials it ran (for people to read)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


@cache
def _namespace() -> dict[str, str]:
    """This boot and pid namespace ("" where the system does not say: never a match)."""

    def read(reader: Any) -> str:
        try:
            return str(reader()).strip()
        except OSError:
            return ""

    return {
        "boot_id": read(Path("/proc/sys/kernel/random/boot_id").read_text),
        "pid_ns": read(lambda: os.readlink("/proc/self/ns/pid")),
    }


def owner_identity() -> dict[str, Any]:
    """This process as the owner of a trial or lock: host, pid, boot id and pid namespace."""
    return {**identity(), **_namespace()}


def same_namespace(owner: dict[str, Any]) -> bool:
    """Whether `owner`'s pid names a process this one can see (same host, boot, namespace)."""
    mine = {"host": socket.gethostname(), **_namespace()}
    return all(mine[key] and owner.get(key) == mine[key] for key in NAMESPACE_KEYS)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs in this pid namespace. A zombie (killed, not yet reaped by
    its parent) does not: a worker killed under a coordinator stays one until the next join."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS), or it ended just now
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def server_clock(dialect: str) -> sa.TextClause:
    """A query of the database server's clock, in seconds since the epoch (SQLite: the host's
    that writes the file, the only clock an SQLite database has)."""
    if dialect == "postgresql":
        return sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
    return sa.text("SELECT (julianday('now') - 2440587.5) * 86400.0")


def server_time(storage: RDBStorage) -> float:
    """The database server's clock now (see `server_clock`)."""
    with storage.engine.connect() as connection:
        return float(connection.execute(server_clock(connection.dialect.name)).scalar_one())


def holder_alive(holder: dict[str, Any], now: float) -> bool:
    """Whether the holder of a coordinator lock still lives; `now` is `server_time`, the clock
    its beats were stored in."""
    if same_namespace(holder):
        return pid_alive(int(holder["pid"]))
    return now - float(holder.get("beat", 0)) < LOCK_GRACE_S


def describe(holder: dict[str, Any]) -> str:
    since = datetime.fromtimestamp(float(holder["since"])).isoformat(timespec="seconds")
    return f"host {holder['host']}, pid {holder['pid']}, since {since}"
