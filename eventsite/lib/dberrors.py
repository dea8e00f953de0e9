"""Which database errors mean "the database cannot take this now" (an outage), as opposed to a
problem with the request: the one place they are mapped. Ingest spools on them (events.spool),
authentication falls back to what this process verified before the outage, other paths answer 503.
"""

from django.db import DatabaseError, InterfaceError, OperationalError, connection

# PostgreSQL's read_only_sql_transaction: a standby (or a primary demoted by a failover) refuses writes.
READ_ONLY_SQL_TRANSACTION = "25006"
_SQLITE_OUTAGES = ("database is locked", "unable to open database", "disk I/O error")


def database_unavailable(exc: BaseException) -> bool:
    """True for connection refused or lost, connect or statement timeout, a server shutting down
    or starting up, or read-only after a failover."""
    if not isinstance(exc, DatabaseError):
        return False
    if isinstance(exc, InterfaceError):
        return True
    if connection.vendor == "sqlite":
        # "no such table" is an OperationalError too: only a locked or unreadable file is an outage.
        return isinstance(exc, OperationalError) and any(text in str(exc) for text in _SQLITE_OUTAGES)
    if isinstance(exc, OperationalError):
        return True
    return getattr(exc.__cause__, "pgcode", None) == READ_ONLY_SQL_TRANSACTION
