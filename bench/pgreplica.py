"""A real streaming replica of a running PostgreSQL, for tests and benchmarks (issue 17).

`StreamingReplica.create()` asks the server behind Django's "default" connection where it is
(`SHOW port`, `SHOW data_directory`, its limits), takes `pg_basebackup -R` of its whole cluster into
a scratch directory and starts a second server on a free loopback port, as the postgres user, with
the binaries of the server's own major version (/usr/lib/postgresql/<major>/bin). It uses no
replication slot: a crashed run must not leave the primary keeping WAL for ever. The primary must
allow replication connections from 127.0.0.1 (`.ci/run` adds the pg_hba line).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
from django.db import connections

from bench.soak import free_port


def as_postgres() -> list[str] | None:
    """The command prefix that runs a program as the postgres user (None: not possible here)."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
    if pwd.getpwuid(os.geteuid()).pw_name == "postgres":
        return []
    return None


def pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin with pg_basebackup (create() checks the server's own)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))
    return versions[-1].parent if versions else None


class StreamingReplica:
    def __init__(self, *, host: str, primary_port: int, user: str, dbname: str, bin_dir: Path, limits: dict):
        self.host, self.primary_port, self.user, self.dbname = host, primary_port, user, dbname
        self.bin_dir, self.limits = bin_dir, limits
        self.port = free_port(from_the_top=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="eventsite-replica-"))
        self.data = self.scratch / "data"
        self.log = self.scratch / "server.log"

    @classmethod
    def create(cls) -> "StreamingReplica":
        primary = connections["default"]
        with primary.cursor() as cursor:
            cursor.execute("SELECT current_setting('port'), current_setting('data_directory'), "
                           "current_setting('server_version_num')::int / 10000")
            port, data_directory, major = cursor.fetchone()
            limits = {}
            # A hot standby refuses to start with lower limits than its primary.
            for name in ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                         "max_locks_per_transaction"):
                cursor.execute(f"SHOW {name}")
                limits[name] = cursor.fetchone()[0]
        bin_dir = Path(f"/usr/lib/postgresql/{major}/bin")
        if not (bin_dir / "pg_basebackup").exists():
            raise RuntimeError(f"the primary (data in {data_directory}) is PostgreSQL {major}: "
                               f"no {bin_dir}/pg_basebackup")
        settings = primary.settings_dict
        replica = cls(host=settings["HOST"] or "127.0.0.1", primary_port=int(port), user=settings["USER"] or "postgres",
                      dbname=settings["NAME"], bin_dir=bin_dir, limits=limits)
        replica._build()
        return replica

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*as_postgres(), *args], capture_output=True, text=True, check=check, timeout=300)

    def _build(self) -> None:
        shutil.chown(self.scratch, user="postgres")
        self.scratch.chmod(0o700)
        result = self._run(str(self.bin_dir / "pg_basebackup"), "-h", self.host, "-p", str(self.primary_port),
                           "-U", self.user, "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_basebackup failed (does pg_hba.conf allow 'host replication all 127.0.0.1/32'?): {result.stderr}")
        # A Debian cluster keeps its configuration outside the data directory; write our own.
        limits = "".join(f"{name} = {value}\n" for name, value in self.limits.items())
        (self.data / "postgresql.conf").write_text(
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.scratch}'\n"
            f"hot_standby = on\nhot_standby_feedback = on\nshared_buffers = 32MB\n{limits}"
        )
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for name in ("postgresql.conf", "pg_hba.conf"):
            shutil.chown(self.data / name, user="postgres")
        self.start()

    def start(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port}", "start")
        self.wait_caught_up()

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def destroy(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def query(self, sql: str):
        with psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=self.dbname,
                              connect_timeout=5) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone() if cursor.description else None

    def pause(self) -> None:
        self.query("SELECT pg_wal_replay_pause()")
        # Pausing takes effect between records: wait until it has.
        for _ in range(200):
            if self.query("SELECT pg_get_wal_replay_pause_state()")[0] == "paused":
                return
            time.sleep(0.05)
        raise RuntimeError("replay did not pause")

    def resume(self) -> None:
        self.query("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 60) -> None:
        """Until the replica has replayed everything the primary has written (committed) so far."""
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            target = cursor.fetchone()[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                replayed = self.query("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")[0]
                if replayed is not None and replayed >= target:
                    return
            except psycopg2.OperationalError:
                pass  # still starting
            time.sleep(0.05)
        raise RuntimeError(f"replica did not catch up within {timeout}s; log: {self.log.read_text()[-2000:]}")
