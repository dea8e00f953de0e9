"""gunicorn settings for both run modes (`gunicorn -c python:eventsite.gunicorn_conf`)."""

import re

from eventsite.lib.env import env_bool, env_int, env_str
from eventsite.ops import multiproc

# Before anything imports prometheus_client (the workers fork from this process).
multiproc.configure()

bind = f"{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=0)}"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = env_int("WEB_THREADS", 4, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = env_int("WEB_TIMEOUT", 30, minimum=1)
# Each worker accepts on a listening socket of its own (SO_REUSEPORT), and the kernel spreads new
# connections over them by a hash of the client's address and port. With one shared socket, the
# worker that wakes first accepts a whole burst of new connections, and keep-alive pins them there:
# wrk's 8 connections went 8/0 in most runs, and a load balancer opening its keep-alive pool
# to the backend is the same burst; one process then serves everything on one core (issue 16,
# README Benchmarks). Without net.ipv4.tcp_migrate_req=1, connections still in a stopping worker's
# own backlog are reset at a restart, and a second server started on the same port by mistake
# shares it instead of failing: WEB_REUSE_PORT=false returns to the shared socket.
reuse_port = env_bool("WEB_REUSE_PORT", True)
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
