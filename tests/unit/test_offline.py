"""tests/unit/conftest.py keeps this folder offline: a connection beyond loopback fails, one to
loopback goes through."""

from __future__ import annotations

import socket

import pytest


def test_a_connection_beyond_loopback_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(
            OSError, match="tests/unit is offline"):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: would hang, not fail, if really tried


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())
            conn, _ = server.accept()
            conn.close()
