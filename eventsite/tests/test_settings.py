"""Start-up fails loudly, with one line naming the variable, on a malformed environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EVENTSITE_TESTING",
                                                            "SECRET_KEY", "ALLOWED_HOSTS")}
    env["EVENTSITE_VAR_DIR"] = env_overrides.pop("EVENTSITE_VAR_DIR")
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(
    "overrides, variable",
    [
        ({"INGEST_MAX_EVENTS": "abc"}, "INGEST_MAX_EVENTS"),
        ({"INGEST_MAX_EVENTS": "\u0663"}, "INGEST_MAX_EVENTS"),  # an Arabic-Indic 3: int() reads it, we do not
        ({"INGEST_MAX_EVENTS": "0"}, "INGEST_MAX_EVENTS"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://x/y", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "a"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://127.0.0.1/db", "ALLOWED_HOSTS": "a"}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgres://127.0.0.1/db", "SECRET_KEY": "k" * 50}, "ALLOWED_HOSTS"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(tmp_path, overrides, variable):
    result = run_check(EVENTSITE_VAR_DIR=str(tmp_path), **overrides)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("eventsite: configuration error:") and variable in lines[0]


def test_the_embedded_default_starts_with_no_variables(tmp_path):
    result = run_check(EVENTSITE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()


def test_production_settings_pass_the_deploy_checks(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "EVENTSITE_TESTING"},
             "EVENTSITE_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
             "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "events.example.com"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
