"""Console benchmark: every page a staff user opens in the console's flows, timed against gunicorn
started the production way, over a table of BENCH_ROWS events on PostgreSQL (target < 500 ms each).

    .venv/bin/python -m bench.console [--rows 1000000] [--repeat 5] [--explain] [--keep]

Loads the events with COPY (bench/load.py) into three datasources, runs the overview's rollup
once over all of them (timed: the one-off cost after an upgrade) and once more after 10,000 new
events (the steady state), then logs in over HTTP and opens each page --repeat times after one
warm-up, printing the median and the slowest. --explain also opens each page in-process and
prints its slowest SQL statements with their EXPLAIN ANALYZE plan. --keep reuses a database
already loaded with the same number of rows (from an earlier run) instead of recreating it.
"""

import argparse
import functools
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from html import unescape

import requests

from bench.common import bench_env, gunicorn, manage, recreate_database, row

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows when the output goes to a file
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/eventsite_console_bench"
TARGET_MS = 500
TARGET_EMAIL = "target@example.com"
TARGET_EVENTS = 200
SPAN_SECONDS = 60 * 24 * 3600  # event times spread over 60 days
DATASOURCES = (("web", 0.70), ("app", 0.25), ("shop", 0.05))
TYPES = [f"type_{n:02d}" for n in range(20)]
PASSWORD = "bench-pass-123"


def rows_factory(total: int, *, offset: int = 0):
    from django.utils import timezone

    from events.parsing import IngestLimits, ksense_rows

    step = max(1, total // TARGET_EVENTS)
    end = int(time.time())

    def factory(first: int, count: int):
        limits = IngestLimits(max_events=count, max_event_bytes=65536, max_depth=32)
        events = []
        for i in range(first + offset, first + offset + count):
            email = TARGET_EMAIL if i % step == 0 else f"user{i % 500_000}@example.com"
            events.append({"type": TYPES[i % len(TYPES)], "time_utc": end - SPAN_SECONDS + (i * SPAN_SECONDS) // total,
                           "user_id": {"email": email, "internal_id": f"u-{i % 700_000}"},
                           "event_data": {"page": f"/p/{i % 997}", "n": i}})
        return ksense_rows(events, limits=limits, now=timezone.now())

    return factory


def load(total: int) -> None:
    from django.db import connection

    from bench.load import load_rows
    from events.models import DataSource

    loaded = 0
    for slug, share in DATASOURCES:
        datasource = DataSource.objects.get(slug=slug)
        count = total - loaded if slug == DATASOURCES[-1][0] else int(total * share)
        seconds = load_rows(datasource.pk, rows_factory(count), count)
        print(f"  loaded {count:,} events into {slug} in {seconds:.0f}s")
        loaded += count
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_event")  # as autovacuum would have, on a table that grew over time


def rollup_figures(*, fresh: bool) -> None:
    from bench.load import load_rows
    from events.models import DataSource
    from eventsite.console.rollup import ROLLUP_SETTLE_SECONDS, events_rollup

    began = time.perf_counter()
    events_rollup()
    row("rollup, first run over the whole table (tail), s" if fresh else "rollup, a run (database reused), s",
        f"{time.perf_counter() - began:.1f}", "once, at upgrade" if fresh else "")
    time.sleep(ROLLUP_SETTLE_SECONDS + 1)
    began = time.perf_counter()
    result = events_rollup()
    row("rollup, settling the whole table, s", f"{time.perf_counter() - began:.1f}",
        f"{result.settled_events:,} events settled")
    web = DataSource.objects.get(slug="web")
    load_rows(web.pk, rows_factory(10_000, offset=10**9), 10_000)
    began = time.perf_counter()
    result = events_rollup()
    row("rollup, steady state after 10,000 new events, ms", f"{(time.perf_counter() - began) * 1000:.0f}",
        f"tail {result.tail_events:,} (runs every 30 s)")


def pages(base: str, http: requests.Session) -> list[tuple[str, str, dict | None]]:
    """(label, url, POST data or None) for each page of the flows, found as a staff user would."""
    from django.db.models import Max, Min

    from events.models import DataSource, Event

    web = DataSource.objects.get(slug="web")
    bounds = Event.objects.filter(datasource=web).aggregate(low=Min("pk"), high=Max("pk"))
    middle = Event.objects.filter(datasource=web, pk__gte=(bounds["low"] + bounds["high"]) // 2).order_by("pk")[0].pk
    events_url = "/admin/events/event/"
    listing = http.get(base + events_url).text
    # Whatever this version's list offers: an identity search (a `kind` choice) or Django's plain search box.
    search = f"?kind=email&q={TARGET_EMAIL}" if 'name="kind"' in listing else f"?q={TARGET_EMAIL}"
    found = [
        ("overview", "/admin/", None),
        ("events list", events_url, None),
        ("search by email", events_url + search, None),
        ("filter by datasource", f"{events_url}?datasource__id__exact={web.pk}", None),
    ]
    if 'name="type"' in listing:  # this version filters by type too
        found.append(("filter by datasource and type", f"{events_url}?datasource__id__exact={web.pk}&type=type_07",
                      None))
    # Page 2: keyset "Older" link if the list has one, else Django's page link "2"; then "older" from there.
    page2 = _link(listing, r"^older") or _link(listing, r"^2$") or "?p=2"
    page2_url = events_url + unescape(page2) if page2.startswith("?") else unescape(page2)
    found.append(("page 2", page2_url, None))
    second = http.get(base + page2_url).text
    older = _link(second, r"^older") or _link(second, r"^3$")
    if older:
        found.append(("older (page 3)", events_url + unescape(older) if older.startswith("?") else unescape(older),
                      None))
    found += [
        ("event detail", f"{events_url}{middle}/change/", None),
        ("datasource page", f"/admin/events/datasource/{web.pk}/change/", None),
        ("purge a user: dry run", f"/admin/events/datasource/{web.pk}/purge-user/",
         {"user_id_type": "email", "user_id": TARGET_EMAIL, "preview": "1"}),
        ("purge all events: dry-run page", f"/admin/events/datasource/{web.pk}/purge-dataset/", None),
        ("health panel", "/admin/health/", None),
        ("locked-out admins", "/admin/lockouts/", None),
        ("report jobs", "/admin/reports/reportjob/", None),
    ]
    return found


def _link(html: str, text_pattern: str) -> str | None:
    for href, text in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', html, re.S):
        if re.search(text_pattern, re.sub(r"<[^>]+>", "", text).strip(), re.I):
            return href
    return None


def bench_device():
    """The bench superuser's authenticator (the console asks superusers for a second factor)."""
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user__username="bench", confirmed=True).first()
    return device or TOTPDevice.objects.create(user=User.objects.get(username="bench"), name="bench", confirmed=True)


def login(base: str, http: requests.Session) -> None:
    from django_otp.oath import TOTP, hotp

    http.get(f"{base}/admin/login/")
    response = http.post(f"{base}/admin/login/?next=/admin/", data={
        "username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": http.cookies["csrftoken"], "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"}, allow_redirects=False)
    assert response.status_code == 302, f"login failed: {response.status_code}"
    device = bench_device()  # the second step: a code from the device's key (each time step is taken once)
    code = hotp(device.bin_key, max(TOTP(device.bin_key, drift=device.drift).t(), device.last_t + 1))
    step = f"{base}/admin/twofactor/code/"
    response = http.post(step, data={"code": f"{code:06d}", "csrfmiddlewaretoken": http.cookies["csrftoken"]},
                         headers={"Referer": step}, allow_redirects=False)
    assert response.status_code == 302, f"second factor refused: {response.status_code}"


def time_page(base: str, http: requests.Session, url: str, data: dict | None, repeat: int) -> tuple[list[float], int]:
    timings, status = [], 0
    for attempt in range(repeat + 1):
        began = time.perf_counter()
        if data is None:
            response = http.get(base + url, allow_redirects=False)
        else:
            response = http.post(base + url, data={**data, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
                                 headers={"Referer": base + url}, allow_redirects=False)
        elapsed = (time.perf_counter() - began) * 1000
        status = response.status_code
        if attempt:  # the first one warms the process's caches, as any page opened before it would
            timings.append(elapsed)
    return timings, status


def explain(flows: list[tuple[str, str, dict | None]]) -> None:
    """Each page in-process, with its three slowest SQL statements and the plan of the slowest."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_otp import DEVICE_ID_SESSION_KEY

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench"))
    session = client.session  # verified by the bench device, as a finished two-factor sign-in leaves it
    session[DEVICE_ID_SESSION_KEY] = bench_device().persistent_id
    session.save()
    for label, url, data in flows:
        with CaptureQueriesContext(connection) as queries:
            if data is None:
                client.get(url)
            else:
                client.post(url, data)
        slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
        print(f"\n== {label}: {len(queries.captured_queries)} queries")
        for query in slowest:
            print(f"  {float(query['time']) * 1000:8.1f} ms  {query['sql'][:300]}")
        if slowest and float(slowest[0]["time"]) > 0.05 and slowest[0]["sql"].lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[0]["sql"])
                print("\n".join("      " + line for (line,) in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CONSOLE_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 1_000_000)))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="reuse an already loaded database")
    args = parser.parse_args()
    print(f"bench.console {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores), "
          f"{args.rows:,} events")
    var_dir = tempfile.mkdtemp(prefix="eventsite-bench-")
    fresh = not args.keep
    if fresh:
        recreate_database(args.database_url)
        for slug, _share in DATASOURCES:
            manage(args.database_url, "create_datasource", slug)
    else:
        manage(args.database_url, "migrate", "--noinput", "-v0")
    os.environ.update(bench_env(args.database_url, EVENTSITE_VAR_DIR=var_dir))
    import django

    django.setup()
    from django.contrib.auth.models import User

    from events.models import Event

    if fresh:
        load(args.rows)
        User.objects.create_superuser("bench", "bench@example.com", PASSWORD)
    else:
        print(f"  reusing {Event.objects.count():,} events")
    rollup_figures(fresh=fresh)
    with gunicorn(args.database_url, workers=2, threads=4, EVENTSITE_VAR_DIR=var_dir) as (base, _process), \
            requests.Session() as http:
        login(base, http)
        flows = pages(base, http)
        print(f"\n  {'page':<40} {'median ms':>10} {'max ms':>8}  status  (target < {TARGET_MS} ms)")
        for label, url, data in flows:
            timings, status = time_page(base, http, url, data, args.repeat)
            median = statistics.median(timings)
            verdict = "ok" if median < TARGET_MS and status in (200, 302) else "SLOW" if status in (200, 302) else "?"
            print(f"  {label:<40} {median:>10.0f} {max(timings):>8.0f}  {status:>6}  {verdict}   {url}")
    if args.explain:
        explain(flows)


if __name__ == "__main__":
    main()
