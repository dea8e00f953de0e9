"""The one mapping from database errors to domain errors.

Services wrap their database work in `database_errors()`; the HTTP layers' last-resort
handlers call `domain_error_for()` on anything that escaped. Either way an outage becomes a
503 ServiceUnavailable (clients retry), and a value the database refuses becomes a 400.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, DataError, InterfaceError, OperationalError

from eventsite.lib.errors import DomainError, InvalidInput, ServiceUnavailable

logger = logging.getLogger(__name__)
UNAVAILABLE = "The database is unavailable; retry shortly"
UNSTORABLE = "A value in the request cannot be stored"


def domain_error_for(error: DatabaseError, *, unavailable: str = UNAVAILABLE) -> DomainError:
    if isinstance(error, DataError):
        # A value the database cannot take (out of range, bad encoding) is the client's error.
        return InvalidInput(UNSTORABLE)
    if not isinstance(error, (OperationalError, InterfaceError)):
        # Anything else (a bug, a constraint nobody expected) is logged in full; the client
        # still gets a retryable JSON answer, never an HTML 500.
        logger.error("unexpected database error: %s", error.__class__.__name__, exc_info=error)
    return ServiceUnavailable(unavailable)


@contextmanager
def database_errors(*, unavailable: str = UNAVAILABLE) -> Iterator[None]:
    """Turn database errors raised inside the block into domain errors."""
    try:
        yield
    except DatabaseError as error:
        raise domain_error_for(error, unavailable=unavailable) from error
