"""The Content-Security-Policy (django-csp; CONTENT_SECURITY_POLICY in settings) on the console and the
API docs: scripts only from us or carrying the request's nonce. The browser suite checks the pages run
without a violation (tests/browser/test_csp.py); here, the header and our templates."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests.logins import console_login

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def nonce_of(response) -> str:
    return next(v for v in directives(response)["script-src"] if v.startswith("'nonce-"))[len("'nonce-"):-1]


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_the_console_and_the_docs_get_a_strict_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["script-src"][0] == "'self'"
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_the_docs_pages_inline_script_carries_the_nonce_of_its_header(client):
    response = client.get("/api/docs/")
    page = response.content.decode()
    nonce = nonce_of(response)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert inline == [f' nonce="{nonce}"']
    # A fresh nonce per response.
    assert nonce_of(client.get("/api/docs/")) != nonce


def test_a_console_page_with_an_inline_script_carries_the_nonce_of_its_header(client, datasource):
    admin = User.objects.create_superuser("root", "root@example.com", "long-enough-pass-1")
    console_login(client, admin)
    response = client.post(f"/admin/events/datasource/{datasource.pk}/purge-user/",
                           {"user_id_type": "email", "user_id": "ann@example.com", "preview": "1"})
    assert response.status_code == 200
    assert f'<script nonce="{nonce_of(response)}">' in response.content.decode()


def test_the_ingest_fast_path_sends_no_policy(client, ingest_token):
    response = client.post("/api/v2/events/post_event", [{"type": "pv"}], content_type="application/json",
                           headers={"X-KSense-Tok": ingest_token.raw})
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


def test_our_templates_have_no_inline_handlers_and_no_script_without_a_nonce():
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) > 10  # the walk found the templates
    offenders = []
    for file in files:
        text = file.read_text()
        for match in re.finditer(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", text):
            offenders.append(f"{file.relative_to(TEMPLATES)}: inline handler {match.group(0)!r}")
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            if "src=" not in attributes and 'nonce="{{ request.csp_nonce }}"' not in attributes:
                offenders.append(f"{file.relative_to(TEMPLATES)}: <script{attributes}> without a nonce")
        if re.search(r"""href\s*=\s*["']javascript:""", text):
            offenders.append(f"{file.relative_to(TEMPLATES)}: javascript: URL")
    assert offenders == []
