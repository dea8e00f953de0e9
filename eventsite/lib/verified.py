"""What this host's processes last read from the database, for use only while it is unreachable.

During an outage ingest may accept a token, the open Barchart datasource or a catalog only if it
was verified in the database within TOKEN_OUTAGE_TRUST_SECONDS. Each process keeps its own copy
in memory; this module shares them between the web processes of one host (files under
VERIFIED_DIR, 0600, written atomically), so a gunicorn worker that happened to get no request of
a client before the outage accepts it too. The values are our own model objects, pickled; the
directory must be as private as the spool's.
"""

import contextlib
import hashlib
import os
import pickle
import threading
import time
from pathlib import Path

from django.conf import settings


def _path(kind: str, key: str) -> Path:
    name = hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()
    return Path(settings.VERIFIED_DIR) / name


def remember(kind: str, key: str, value) -> None:
    """Record value as just read from the database (best effort: a full disk only costs trust)."""
    path = _path(kind, key)
    with contextlib.suppress(OSError, pickle.PicklingError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # One temporary file per thread: two threads writing the same key must not share one.
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump((time.time(), value), handle)
        os.replace(temporary, path)


def recall(kind: str, key: str, *, within: float):
    """The value some process of this host read within `within` seconds, else None."""
    try:
        with open(_path(kind, key), "rb") as handle:
            verified_at, value = pickle.load(handle)
    except Exception:  # noqa: BLE001 - an unreadable entry is only a missing one: no trust, never a 500
        return None
    return value if 0 <= time.time() - verified_at <= within else None


def forget(kind: str, key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(kind, key).unlink()
