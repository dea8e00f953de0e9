"""Request ids: a client's X-Request-ID when it is sane, else a generated one.

The id is echoed in the answer, put in every log line written for the request (see
eventsite.ops.logformat), handed to the Celery tasks the request starts (a task header) and
stored in report and purge audit rows (eventsite.lib.context.current_request_id).
"""

import re
import uuid

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# Letters, digits and a few separators, up to 128 characters: safe in a log line, a header and
# a database column, and enough for the UUIDs, hex ids and trace ids proxies send.
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def sanitise(value: str | None) -> str | None:
    if value and _SANE.fullmatch(value):
        return value
    return None


def generate() -> str:
    return uuid.uuid4().hex


def from_meta(meta: dict) -> str:
    return sanitise(meta.get(META_KEY)) or generate()
