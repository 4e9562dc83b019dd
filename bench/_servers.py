"""Shared by the benches: a free loopback port, moto in its own process, stopping a server.

Benches are run as scripts (``python bench/bench_x.py``), so ``bench/`` is on ``sys.path`` and
they import this module as ``_servers`` (after putting the repository root on ``sys.path``,
for ``stop``, shared with the test fixtures).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from tests.fixtures.processes import stop_process as stop

__all__ = ["free_port", "start_moto", "stop"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(timeout: float = 30) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server in its own process (not sharing the bench's GIL); (process, endpoint)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise SystemExit("moto server did not start")
