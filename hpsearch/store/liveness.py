"""Who owns a stored lock or trial, and whether that owner still lives.

An owner is recorded as its host and pid (and, for locks, a beat time). On the same host a
process is alive while its pid is; on another host while its beat is fresh.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hpsearch.timing import LOCK_GRACE_S


def identity() -> dict[str, Any]:
    """This process: its host and pid, stored with the trials and locks it holds."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host. A zombie (killed, not yet reaped by its
    parent) does not: a worker killed under a coordinator stays one until the next join."""
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


def holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the holder of a coordinator lock still lives."""
    if holder.get("host") == socket.gethostname():
        return pid_alive(int(holder["pid"]))
    return time.time() - float(holder.get("beat", 0)) < LOCK_GRACE_S


def describe(holder: dict[str, Any]) -> str:
    since = datetime.fromtimestamp(float(holder["since"])).isoformat(timespec="seconds")
    return f"host {holder['host']}, pid {holder['pid']}, since {since}"
