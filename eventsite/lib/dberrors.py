"""The one mapping from database errors to domain errors, and of which errors are an outage.

Services wrap their database work in `database_errors()`; the HTTP layers' last-resort
handlers call `domain_error_for()` on anything that escaped. Either way an outage becomes a
503 ServiceUnavailable (clients retry), and a value the database refuses becomes a 400.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, DataError, InterfaceError, OperationalError, connection

from eventsite.lib.errors import DomainError, InvalidInput, ServiceUnavailable

logger = logging.getLogger(__name__)
UNAVAILABLE = "The database is unavailable; retry shortly"
UNSTORABLE = "A value in the request cannot be stored"
# PostgreSQL's read_only_sql_transaction: a standby (or a primary demoted by a failover) refuses writes.
READ_ONLY_SQL_TRANSACTION = "25006"
_SQLITE_OUTAGES = ("database is locked", "unable to open database", "disk I/O error")


def database_unavailable(error: BaseException) -> bool:
    """Whether the database cannot take this now (an outage), as opposed to a problem with the
    request: connection refused or lost, connect or statement timeout, a server shutting down
    or starting up, read-only after a failover. Ingest spools on these (events.spool)."""
    if not isinstance(error, (DatabaseError, InterfaceError)):  # InterfaceError is no DatabaseError (PEP 249)
        return False
    if isinstance(error, InterfaceError):
        return True
    if connection.vendor == "sqlite":
        # "no such table" is an OperationalError too: only a locked or unreadable file is an outage.
        return isinstance(error, OperationalError) and any(text in str(error) for text in _SQLITE_OUTAGES)
    if isinstance(error, OperationalError):
        return True
    return getattr(error.__cause__, "pgcode", None) == READ_ONLY_SQL_TRANSACTION


def domain_error_for(error: DatabaseError, *, unavailable: str = UNAVAILABLE) -> DomainError:
    if isinstance(error, DataError):
        # A value the database cannot take (out of range, bad encoding) is the client's error.
        return InvalidInput(UNSTORABLE)
    if not isinstance(error, (OperationalError, InterfaceError)) and not database_unavailable(error):
        # Anything else (a bug, a constraint nobody expected) is logged in full; the client
        # still gets a retryable JSON answer, never an HTML 500.
        logger.error("unexpected database error: %s", error.__class__.__name__, exc_info=error)
    return ServiceUnavailable(unavailable)


@contextmanager
def database_errors(*, unavailable: str = UNAVAILABLE) -> Iterator[None]:
    """Turn database errors raised inside the block into domain errors."""
    try:
        yield
    except (DatabaseError, InterfaceError) as error:  # InterfaceError ("connection already closed") is no DatabaseError
        raise domain_error_for(error, unavailable=unavailable) from error
