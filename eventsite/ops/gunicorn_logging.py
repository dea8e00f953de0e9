"""gunicorn's access log with the request id, and as JSON lines when LOG_FORMAT=json.

The query string is never written raw: eventsite.gunicorn_conf.pre_request puts a scrubbed copy
in a header (tokens and purge user ids redacted), used here and by the text format.
"""

import os
from datetime import UTC, datetime

import orjson
from gunicorn.glogging import Logger


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if os.environ.get("LOG_FORMAT", "text").lower() != "json":
            return super().access(resp, req, environ, request_time)
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict or self.cfg.syslog):
            return None
        headers = dict((name.lower(), value) for name, value in (resp.headers or []))
        scrubbed = next((value for name, value in req.headers if name.upper() == "X-SCRUBBED-QUERY"), "")
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "message": f"{req.method} {req.path}{scrubbed} {resp.status_code}",
            "request_id": headers.get("x-request-id"),
            "method": req.method,
            "path": req.path,
            "status": resp.status_code,
            "duration": round(request_time.total_seconds(), 6),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "bytes": getattr(resp, "sent", None),
        }
        try:
            self.access_log.info(orjson.dumps(entry).decode())
        except Exception:  # noqa: BLE001 - gunicorn's own access() swallows log failures the same way
            self.error("Failed to format the access log entry")
        return None
