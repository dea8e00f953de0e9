"""A real database outage for in-process tests: the connection points at a loopback port where
nothing listens, so every query fails with "connection refused", as when PostgreSQL is stopped."""

import contextlib
import socket

from django.db import connection


@contextlib.contextmanager
def database_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original
