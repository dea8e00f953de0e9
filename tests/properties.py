"""Helpers of the property tests (`*_properties.py`): run a function as a web worker would, and accept
only the outcomes a client may see (a result, or a DomainError that becomes a 4xx)."""

import contextlib
import sys

from eventsite.lib.errors import DomainError

# Python's default, which gunicorn's workers keep. Hypothesis raises the limit to 2,048 while a test
# runs, which would hide a RecursionError (a deep body did raise one in parse_json; found by these tests).
WORKER_RECURSION_LIMIT = 1000


@contextlib.contextmanager
def worker_recursion_limit():
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(WORKER_RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def outcome(function, *args, **kwargs):
    """function's result, or None when it refused the input with a DomainError of the 4xx kind; any other
    exception fails the test."""
    try:
        with worker_recursion_limit():
            return function(*args, **kwargs)
    except DomainError as error:
        assert 400 <= error.status_code < 500 and error.message, error
        return None
