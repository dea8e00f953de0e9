"""Reads on a streaming replica, and the purge fence that keeps them from showing erased data.

The contract, in one place:
- Nothing reads the replica unless a caller opens `replica_reads()`: report exports and the
  read-only console/management event lists do. Inside it, `ReplicaRouter` sends reads of the
  models in REPLICA_MODELS (events, their datasources and the catalog) to the "replica" alias;
  every write, and every read of anything else (jobs, tokens, users), stays on the primary.
- A purge is never undone by replica lag. Every transaction that erases events calls
  `replica_fence_bump()` inside it: that raises the fence row's generation in the same commit
  and, once committed, records the primary's WAL position (GREATEST with the stored one).
  `replica_reads(wait=...)` reads the fence on the primary and uses the replica only once the
  replica has replayed past it (its copy of the generation caught up and
  `pg_last_wal_replay_lsn()` passed the position), polling for at most REPLICA_WAIT_SECONDS;
  then it reads the primary (REPLICA_FALLBACK=primary), or, with REPLICA_FALLBACK=wait, it waits up
  to REPLICA_MAX_WAIT_SECONDS (a replica that is down still means the primary at once). The
  generation closes the gap between a purge's commit and the recording of its WAL position.
- A replica that is unreachable (short connect_timeout) or breaks mid-way is never a failure:
  reads go to the primary, and the replica is left alone for REPLICA_RETRY_SECONDS.
- `replica_status()` reports the lag (bytes and seconds) for the console's health panel.

Without DATABASE_REPLICA_URL there is no "replica" alias and all of this is a no-op.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

REPLICA = "replica"
# The fence row lives in events' migrations (this bottom layer owns no models); one row, id 1.
FENCE_TABLE = "eventsite_replica_fence"
# Reads of these models may be served by the replica inside replica_reads(). Events are read
# joined to their datasource (the purge epoch), so both come from the same server.
REPLICA_MODELS = frozenset({"events.event", "events.datasource", "events.catalogeventtype", "events.catalogcode"})
POLL_SECONDS = 0.05

# The alias chosen for the current block (None: no replica reads requested).
_reads_alias: ContextVar[str | None] = ContextVar("replica_reads_alias", default=None)
# Per process: the replica failed; leave it alone until this monotonic time.
_down_until = 0.0

T = TypeVar("T")


class ReplicaRouter:
    """Routes reads of REPLICA_MODELS to the alias replica_reads() chose; nothing else."""

    def db_for_read(self, model, **hints):
        alias = _reads_alias.get()
        if alias is not None and model._meta.label_lower in REPLICA_MODELS:
            return alias
        return None

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # a standby is read-only; it gets the schema by replication


def replica_configured() -> bool:
    return REPLICA in connections.settings and connections[REPLICA].vendor == "postgresql"


def current_alias() -> str:
    """Where routed reads go right now (the primary outside replica_reads())."""
    return _reads_alias.get() or DEFAULT_DB_ALIAS


# --- The fence (primary side) ---------------------------------------------------------------

def replica_fence_bump() -> None:
    """Call inside every transaction that erases events (purges, retention), as late as possible
    (the fence row stays locked until the commit). Raises the fence generation in that commit
    and, after the commit, records the primary's WAL position."""
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.vendor != "postgresql":
        return  # SQLite: no replica can exist
    with primary.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FENCE_TABLE} (id, generation, lsn) VALUES (1, 1, 0) "
            f"ON CONFLICT (id) DO UPDATE SET generation = {FENCE_TABLE}.generation + 1"
        )
    transaction.on_commit(replica_fence_record, using=DEFAULT_DB_ALIAS)


def replica_fence_record() -> int | None:
    """Record the primary's current WAL position in the fence (never lowering it). Called after
    a purge commits; also usable by any job that erased data outside replica_fence_bump()."""
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.vendor != "postgresql":
        return None
    with primary.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FENCE_TABLE} (id, generation, lsn) VALUES (1, 0, pg_current_wal_lsn() - '0/0'::pg_lsn) "
            f"ON CONFLICT (id) DO UPDATE SET lsn = GREATEST({FENCE_TABLE}.lsn, EXCLUDED.lsn) RETURNING lsn"
        )
        return cursor.fetchone()[0]


def _fence_on_primary() -> tuple[int, int]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT generation, lsn FROM {FENCE_TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, 0)


def _replica_position() -> tuple[int | None, int]:
    """(replayed WAL position or None if not in recovery, the replica's copy of the generation)."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            f"SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
            f"(SELECT generation FROM {FENCE_TABLE} WHERE id = 1)"
        )
        replayed, generation = cursor.fetchone()
    return (int(replayed) if replayed is not None else None), (generation or 0)


def _passed(fence: tuple[int, int], position: tuple[int | None, int]) -> bool:
    # A server not in recovery (no replay position: a promoted standby, or the primary itself)
    # passes on the generation alone: it holds every purge it has a generation for.
    generation, lsn = fence
    replayed, replica_generation = position
    return replica_generation >= generation and (replayed is None or replayed >= lsn)


# --- Choosing the server --------------------------------------------------------------------

def _replica_failed(exc: BaseException) -> None:
    global _down_until
    _down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
    logger.warning("replica unavailable, reading from the primary for %ss: %s",
                   settings.REPLICA_RETRY_SECONDS, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
    try:
        connections[REPLICA].close()
    except DatabaseError:
        pass


def _choose(wait: float) -> str:
    """The replica if it is up and past the fence within `wait` seconds; the primary otherwise."""
    if not replica_configured() or time.monotonic() < _down_until:
        return DEFAULT_DB_ALIAS
    try:
        fence = _fence_on_primary()
        deadline = time.monotonic() + wait
        while not _passed(fence, _replica_position()):
            if time.monotonic() >= deadline:
                logger.info("replica behind the purge fence after %.1fs; reading from the primary", wait)
                return DEFAULT_DB_ALIAS
            time.sleep(POLL_SECONDS)
    except DatabaseError as exc:
        _replica_failed(exc)
        return DEFAULT_DB_ALIAS
    return REPLICA


@contextmanager
def replica_reads(*, wait: float | None = None) -> Iterator[str]:
    """Serve routed reads in this block from the replica when that cannot show purged events.

    wait: seconds to wait for the replica to pass the purge fence; 0 for interactive pages. By
    default REPLICA_WAIT_SECONDS, or REPLICA_MAX_WAIT_SECONDS with REPLICA_FALLBACK=wait (exports
    then stay off the primary unless the replica is unreachable or that long behind).
    Yields the alias chosen ("replica" or "default").
    """
    if wait is None:
        patient = settings.REPLICA_FALLBACK == "wait"
        wait = settings.REPLICA_MAX_WAIT_SECONDS if patient else settings.REPLICA_WAIT_SECONDS
    alias = _choose(wait)
    token = _reads_alias.set(alias)
    try:
        yield alias
    finally:
        _reads_alias.reset(token)


def run_on_replica(work: Callable[[], T], *, wait: float | None = None) -> T:
    """work() with replica reads; if the replica breaks while it runs (server stopped, network,
    a query cancelled by recovery conflicts), work() runs again from the start on the primary.
    work must therefore only read through the router (no writes to keep or undo)."""
    with replica_reads(wait=wait) as alias:
        if alias != REPLICA:
            return work()
        try:
            return work()
        except DatabaseError as exc:
            if not _is_replica_failure(exc):
                raise
            _replica_failed(exc)
    token = _reads_alias.set(DEFAULT_DB_ALIAS)
    try:
        return work()
    finally:
        _reads_alias.reset(token)


def _is_replica_failure(exc: DatabaseError) -> bool:
    """After an error inside replica reads: did the replica fail? Its connection broke (server
    stopped, network), or a standby cancelled the query to replay WAL (SQLSTATE 40001)."""
    if getattr(exc.__cause__, "pgcode", None) == "40001":
        return True
    replica = connections[REPLICA]
    if replica.connection is None or replica.connection.closed:
        return True
    try:
        with replica.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return True
    return False


# --- Health -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    configured: bool
    reachable: bool = False
    in_recovery: bool = False
    replay_paused: bool = False
    lag_bytes: int | None = None  # WAL the primary wrote that the replica has not replayed
    lag_seconds: float | None = None  # age of the last replayed commit while behind; 0 when caught up
    fence_passed: bool | None = None  # every committed purge is replayed
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def replica_status() -> ReplicaStatus:
    """The replica's lag for the console's health panel; never raises."""
    if not replica_configured():
        return ReplicaStatus(configured=False)
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            primary_lsn = int(cursor.fetchone()[0])
        fence = _fence_on_primary()
    except DatabaseError as exc:
        return ReplicaStatus(configured=True, error=f"primary: {str(exc).strip()[:200]}")
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                f"SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
                f"EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), "
                f"CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, "
                f"(SELECT generation FROM {FENCE_TABLE} WHERE id = 1)"
            )
            in_recovery, replayed, age, paused, generation = cursor.fetchone()
    except DatabaseError as exc:
        try:
            connections[REPLICA].close()
        except DatabaseError:
            pass
        return ReplicaStatus(configured=True, error=f"replica: {str(exc).strip()[:200]}")
    lag_bytes = max(0, primary_lsn - int(replayed)) if replayed is not None else None
    lag_seconds = None
    if lag_bytes is not None:
        lag_seconds = 0.0 if lag_bytes == 0 or age is None else max(0.0, float(age))
    return ReplicaStatus(
        configured=True, reachable=True, in_recovery=bool(in_recovery), replay_paused=bool(paused),
        lag_bytes=lag_bytes, lag_seconds=lag_seconds,
        fence_passed=_passed(fence, (int(replayed) if replayed is not None else None, generation or 0)),
    )


def replica_forget_failures() -> None:
    """Try the replica again at once (tests, and after an operator fixed it)."""
    global _down_until
    _down_until = 0.0
