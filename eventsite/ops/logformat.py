"""The log format: readable text by default, one JSON object per line with LOG_FORMAT=json.

RequestContext (a filter on the handler) stamps every record with the current request id,
method and path (never the query string), from eventsite.lib.context; records written in a
Celery task carry the id of the request that started it. Token scrubbing (ScrubTokens) runs
before either formatter, so both formats are scrubbed.
"""

import logging
from datetime import UTC, datetime

import orjson

from eventsite.lib.context import request_id, request_method, request_path
from eventsite.lib.logscrub import scrub

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        if not hasattr(record, "method"):
            record.method = request_method.get()
        if not hasattr(record, "path"):
            path = request_path.get()
            record.path = scrub(path) if path else None
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, method, path, status, duration (seconds)."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if rid in (None, "-") else rid,
            "method": getattr(record, "method", None),
            "path": getattr(record, "path", None),
            "status": getattr(record, "status", None) or getattr(record, "status_code", None),
            "duration": getattr(record, "duration", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()
