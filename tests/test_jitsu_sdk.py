"""The real @jitsu/sdk-js, installed from the npm registry, posting to a live eventsite."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from events.models import Event
from tests.factories import make_datasource, make_token

ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = ROOT / "var" / "node" / "jitsu-sdk"
SDK_VERSION = "3.1.5"
NODE = shutil.which("node")
NPM = shutil.which("npm")


@pytest.fixture(scope="session")
def jitsu_sdk() -> Path:
    if not (NODE and NPM):
        pytest.skip("Node.js and npm are not installed here (CI has them)")
    package = SDK_DIR / "node_modules" / "@jitsu" / "sdk-js" / "package.json"
    if not package.exists() or f'"version": "{SDK_VERSION}"' not in package.read_text():
        SDK_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([NPM, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(SDK_DIR),
                        f"@jitsu/sdk-js@{SDK_VERSION}"], check=True, timeout=300)
    return SDK_DIR / "node_modules"


@pytest.mark.django_db(transaction=True)
def test_the_real_sdk_stores_events_with_their_identities(live_server, jitsu_sdk):
    datasource = make_datasource(slug="web")
    issued = make_token(datasource=datasource, scope="ingest")
    result = subprocess.run(
        [NODE, str(ROOT / "tests" / "jitsu" / "send_events.js"), live_server.url, issued.raw],
        env={**os.environ, "NODE_PATH": str(jitsu_sdk)}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = list(Event.objects.order_by("id"))
    assert [event.type for event in events] == ["user_identify", "purchase", "page_view"]
    for event in events:
        assert event.user_internal_id == hashlib.sha256(b"user-42").hexdigest()
        assert event.user_email == hashlib.sha256(b"ann@example.com").hexdigest()
        assert event.user_anonymous_id is None  # from Node the SDK sends anonymous_id ""
        assert len(event.event_id) == 32 and event.payload["event_id"] == event.event_id  # it sent ""
        assert "api_key" not in event.payload  # the SDK copies the token into events
        assert issued.raw not in str(event.payload)
    assert events[1].payload["amount"] == 12
