"""Test-wide guards and shared fixtures.

Every test runs with a socket guard: a connection to anything outside 127.0.0.0/8 or ::1 fails
the test before any packet leaves the machine.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

pytest_plugins = [
    "tests.fixtures.moto_server",
    "tests.fixtures.postgres",
    "tests.fixtures.azurite",
    "tests.fixtures.http_server",
    "tests.fixtures.gcs_emulator",
    "tests.fixtures.pubsub_emulator",
    "tests.fixtures.fault_proxy",
    "tests.fixtures.dagster_deploy",
    "tests.fixtures.dagster_dev",
]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX paths and the like
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a hostname not resolved yet: refuse, tests use literal addresses


class NonLoopbackConnection(AssertionError):
    """A test tried to dial something that is not 127.0.0.0/8."""


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to non-loopback {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to non-loopback {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
