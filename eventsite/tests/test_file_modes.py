"""Embedded mode keeps var/ private: directories 0700, files 0600, whatever the umask of the process.

Each test starts a real process on a scratch var/ (EVENTSITE_VAR_DIR) with umask 000, the worst case:
modes must come from the code, not from the environment.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Opens the SQLite database (WAL: -wal and -shm appear), stores an export through reports.storage,
# then lists the mode of everything under var/ while the connection is still open.
SCRIPT = """
import json, os, sys, tempfile
from pathlib import Path
from django.conf import settings
from django.db import connection
from reports import storage
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
    handle.write("customer,type\\nTGAM,pv\\n")
storage.upload(key="reports/job-1.csv", path=Path(handle.name))
os.unlink(handle.name)
var = Path(settings.VAR_DIR)
modes = {str(path.relative_to(var)): oct(path.stat().st_mode & 0o777) for path in [var, *var.rglob("*")]}
print(json.dumps({"modes": modes, "key": settings.SECRET_KEY}))
"""


def run_embedded(var_dir: Path, script: str = SCRIPT) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "EVENTSITE_TESTING", "SECRET_KEY", "S3_BUCKET")}
    env.update(EVENTSITE_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="eventsite.settings")
    command = ["sh", "-c", 'umask 000 && exec "$@"', "sh", sys.executable, "manage.py", "shell", "-c", script]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_private(modes: dict, var_dir: Path) -> None:
    for name, mode in modes.items():
        expected = "0o700" if (var_dir / name).is_dir() else "0o600"
        assert mode == expected, f"{name} is {mode}"


def test_a_fresh_var_holds_only_private_files_and_directories(tmp_path):
    var_dir = tmp_path / "var"
    modes = run_embedded(var_dir)["modes"]
    assert {"secret_key", "eventsite.sqlite3", "exports/reports/job-1.csv", "celery/queue"} <= set(modes)
    assert any(name.endswith("-wal") for name in modes)  # the WAL file follows the database's mode
    assert_private(modes, var_dir)


def test_a_var_left_readable_by_an_older_version_is_tightened_and_keeps_its_key(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o755)
    (var_dir / "secret_key").write_text("an-existing-key-from-before")
    (var_dir / "eventsite.sqlite3").touch()
    for path in (var_dir, var_dir / "secret_key", var_dir / "eventsite.sqlite3"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    outcome = run_embedded(var_dir)
    assert outcome["key"] == "an-existing-key-from-before"
    assert_private(outcome["modes"], var_dir)


def test_processes_starting_together_share_one_secret_key(tmp_path):
    var_dir = tmp_path / "var"
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EVENTSITE_TESTING",
                                                            "SECRET_KEY")}
    env["EVENTSITE_VAR_DIR"] = str(var_dir)
    processes = [subprocess.Popen([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(3)]
    keys = {process.communicate(timeout=60)[0].strip().splitlines()[-1] for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert keys == {(var_dir / "secret_key").read_text()}
    assert len(keys.pop()) > 50
