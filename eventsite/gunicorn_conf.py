"""gunicorn settings for both run modes (`gunicorn -c python:eventsite.gunicorn_conf`)."""

import re

from eventsite.lib.env import env_int, env_str
from eventsite.ops import multiproc

# Before anything imports prometheus_client (the workers fork from this process).
multiproc.configure()

bind = f"{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=0)}"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = env_int("WEB_THREADS", 4, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = env_int("WEB_TIMEOUT", 30, minimum=1)
accesslog = env_str("ACCESS_LOG", "-") or None
# The request line goes through %(U)s (path only) plus a scrubbed query string, so tokens
# passed as ?token= / ?tok= never reach the access log.
# The request id is the one eventsite echoes (a sane client X-Request-ID, or generated).
access_log_format = '%(h)s "%(m)s %(U)s%({x-scrubbed-query}i)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
# LOG_FORMAT=json writes the access log as JSON lines (eventsite.ops.gunicorn_logging).
logger_class = "eventsite.ops.gunicorn_logging.AccessLogger"

# Tokens, and the user ids of the documented GET purge_user, never reach the access log.
_TOKEN_PARAM = re.compile(r"((?:^|&)(?:token|tok|user_id)=)[^&]*", re.IGNORECASE)


def scrub_query(query: str) -> str:
    return _TOKEN_PARAM.sub(r"\1[redacted]", query)


def pre_request(worker, req):
    query = scrub_query(req.query or "")
    # Drop any client-sent copy first, so a request cannot write its own text into the access log.
    req.headers = [(name, value) for name, value in req.headers if name.upper() != "X-SCRUBBED-QUERY"]
    req.headers.append(("X-SCRUBBED-QUERY", f"?{query}" if query else ""))


def on_starting(server):
    # Metrics files of processes from an earlier run would otherwise be summed forever.
    multiproc.remove_dead_files()


def child_exit(server, worker):
    multiproc.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Each web process drains the local spool (batches taken while the database was away) by
    itself: a deployment needs no extra process for it. See events.services.events_spool_drain."""
    from eventsite.spool_thread import start_drain_thread

    start_drain_thread()
