"""Readable, stable-for-the-process worker ids: host, pid, short random."""

from __future__ import annotations

import os
import secrets
import socket


def new_worker_id(role: str = "worker") -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{role}-{os.getpid()}-{secrets.token_hex(2)}"
