"""Property-based fuzzing of every operation in /api/schema/ against a live gunicorn on PostgreSQL.

Schemathesis generates requests from the served schema (valid and schema-violating ones, with NUL
bytes and any unicode), some carrying real credentials (an ingest token, a purge token, a report user,
a staff user) so they get past authentication. Checked on every answer: no 5xx, status code, content
type and body as the schema says, and every 4xx is JSON in its API family's error format.

CI runs EVENTSITE_FUZZ_EXAMPLES (default 25) examples per operation; `make fuzz` runs 500.
"""

import base64
import io
import os
from collections import Counter

import pytest
import requests
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import bench.soak
from bench.soak import live_gunicorn
from eventsite.lib.access import ROLES
from tests.factories import make_staff
from tests.live import live_database_url, print_figures
from tests.services import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]
EXAMPLES = int(os.environ.get("EVENTSITE_FUZZ_EXAMPLES", "25"))
PORTS = range(18600, 18700)  # this suite's fuzz port range, loopback only
PASSWORD = "fuzz-Report-pass-42"


def family_of(path: str) -> str:
    if path.startswith("/api/manage/"):
        return "manage"
    if path.startswith("/api/v2/"):
        return "ksense"
    if path.startswith("/api/v1/"):
        return "jitsu"
    return "barchart"


def family_error_format(ctx, response, case):
    """Every 4xx is JSON, in the error format of the operation's API family."""
    if not 400 <= response.status_code < 500:
        return None
    family = family_of(case.operation.path)
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type == "application/json", f"4xx with Content-Type {content_type!r}"
    body = response.json()
    if family in ("ksense", "jitsu"):
        assert set(body) == {"status", "message"}, body
        assert body["status"] == ("ERROR" if family == "ksense" else "error"), body
        assert isinstance(body["message"], str) and body["message"], body
    elif family == "barchart" and response.status_code == 401:
        assert body == {"message": "Unauthorized"}, body
    elif family == "barchart":
        assert isinstance(body, list) and body, body
        for node in body:
            assert isinstance(node["value"]["code"], str) and isinstance(node["value"]["message"], str), body
            assert isinstance(node["children"], list), body
    else:  # DRF: {"detail": ...} or {"field": [messages]}
        assert isinstance(body, dict) and body, body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    family_error_format,
]


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _provision(monkeypatch) -> dict:
    """A datasource with ingest token, another with a purge token, a report user and a staff user,
    made with the management commands an operator uses."""
    call_command("create_datasource", "fuzz", stdout=io.StringIO())
    call_command("create_datasource", "fuzzpurge", stdout=io.StringIO())
    tokens = {}
    for slug, scope in (("fuzz", "ingest"), ("fuzzpurge", "purge")):
        out = io.StringIO()
        call_command("issue_token", slug, "--scope", scope, stdout=out)
        tokens[scope] = out.getvalue().strip()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    call_command("create_report_user", "fuzzreport", "--customer", "TGAM", "--password-stdin", stderr=io.StringIO())
    # Every role: the fuzzer reaches each management operation's handler, not only its 403.
    make_staff("fuzzstaff", *ROLES, password=PASSWORD)
    return {
        "ingest": tokens["ingest"],
        "purge": tokens["purge"],
        "report": _basic("fuzzreport", PASSWORD),
        "staff": _basic("fuzzstaff", PASSWORD),
    }


def _with_credentials(case, credentials: dict, variant: str) -> None:
    """Replace the generated credentials by real ones (variant "valid"), or keep them ("generated")."""
    if variant == "generated":
        return
    path = case.operation.path
    headers = case.headers if case.headers is not None else {}
    for name in ("X-KSense-Tok", "Authorization"):
        headers.pop(name, None)
    if case.query:
        case.query.pop("token", None)
        case.query.pop("tok", None)
    family = family_of(path)
    if family == "manage":
        headers["Authorization"] = credentials["staff"]
    elif path.startswith("/api/v2/insights/"):
        headers["X-KSense-Tok"] = credentials["purge"]
        if case.query is not None and "ds" in case.query:
            case.query["ds"] = "fuzzpurge"
    elif family in ("ksense", "jitsu") or path == "/events":
        headers["X-KSense-Tok"] = credentials["ingest"]
    elif path == "/service/authenticate" or path.startswith("/reports"):
        headers["Authorization"] = credentials["report" if variant == "valid" else "staff"]
    case.headers = headers


def _fuzz_operation(operation, *, base_url: str, credentials: dict, session: requests.Session, stats: Counter):
    strategy = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=strategy, variant=st.sampled_from(["generated", "valid", "staff"]))
    def run(case, variant):
        _with_credentials(case, credentials, variant)
        response = case.call(base_url=base_url, session=session, timeout=30)
        stats["requests"] += 1
        stats[f"{response.status_code // 100}xx"] += 1
        if response.status_code == 414 and b"Request Line is too large" in (response.content or b""):
            # gunicorn's own answer to a request line over limit_request_line (4094 bytes): Django never
            # sees the request, so no schema can shape it. Counted and printed, not checked.
            stats["414 from gunicorn"] += 1
            return
        case.validate_response(response, checks=CHECKS)

    run()


def test_it_answers_every_fuzzed_request_as_the_schema_says(transactional_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.soak, "PORTS", PORTS)
    credentials = _provision(monkeypatch)
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.fuzz_settings",
        # Most fuzzed credentials are made up: do not let the failed-auth limit turn the rest into 429s.
        "AUTH_FAILURE_LIMIT": "1000000000",
        # Reports and purges enqueue tasks: keep them in this run's own filesystem broker.
        "REDIS_URL": "",
    }
    stats: Counter = Counter()
    failures: dict[str, str] = {}
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path, **env) as (port, process):
        base_url = f"http://127.0.0.1:{port}"
        served = requests.get(f"{base_url}/api/schema/?format=json", timeout=30)
        assert served.status_code == 200
        schema = schemathesis.openapi.from_dict(served.json())
        schema.config.generation.update(allow_x00=True, codec="utf-8", max_examples=EXAMPLES)
        operations = [result.ok() for result in schema.get_all_operations()]
        with requests.Session() as session:
            for operation in operations:
                try:
                    _fuzz_operation(operation, base_url=base_url, credentials=credentials, session=session,
                                    stats=stats)
                # FailureGroup is a BaseExceptionGroup: collected, every operation reported together below
                except (Exception, BaseExceptionGroup) as error:
                    failures[operation.label] = str(error)[:3000]
        assert process.poll() is None  # gunicorn survived
    with capsys.disabled():  # figures for the README, shown even without -s
        print_figures(f"fuzz: {len(operations)} operations x {EXAMPLES} examples", {
            "requests": stats["requests"],
            **{key: stats[key] for key in ("2xx", "4xx", "5xx", "414 from gunicorn")},
            "operations failing a check": len(failures),
        })
    described = sum(len(item) for item in served.json()["paths"].values())
    assert len(operations) == described and described >= 30  # every operation of the schema was fuzzed
    assert stats["requests"] >= len(operations) * EXAMPLES // 2
    assert stats["2xx"] > 0 and stats["4xx"] > 0  # authenticated examples got through, bad ones did not
    assert not failures, "\n\n".join(f"== {label}\n{message}" for label, message in failures.items())
    assert stats["5xx"] == 0
