"""Private files of the embedded mode (var/): readable by the service's own user only.

var/ holds the SQLite database (sessions, password hashes, events), the secret key and export
files. Modes are given explicitly at creation, so they do not depend on the umask of whoever
starts the process, and an existing var/ from an older version is tightened on start-up.
"""

import os
import secrets
import time
from pathlib import Path

from eventsite.lib.env import ConfigurationError

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """path as a directory only its owner can enter (parents are created as needed, left alone)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """path as an existing file only its owner can read (created empty if absent: SQLite takes an
    empty file as an empty database, and gives its -wal and -shm files the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def secret_key_from(path: Path) -> str:
    """The key stored at path; the first process to get here creates it.

    O_CREAT|O_EXCL with mode 0600: the file exists with its final mode before a byte of the key
    is written (writing first and chmod-ing after left a window with the key world-readable),
    and of two processes starting together only one writes a key.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
        return _read_key(path)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return _read_key(path)


def _read_key(path: Path) -> str:
    # Another process may have created the file and not yet written the key: wait for it briefly.
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise ConfigurationError(f"{path} is empty; delete it to have a new secret key generated")


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permissions of a path we own (one created by an older version)."""
    status = path.stat()
    if status.st_uid == os.getuid() and status.st_mode & 0o777 & ~mode:
        path.chmod(status.st_mode & mode)
