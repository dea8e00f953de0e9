"""All access to export files goes through here (S3 in production, the local disk embedded).

Calls carry short timeouts (S3_TIMEOUT_SECONDS) and raise StorageUnavailable, never a
boto3 or OS error. Never call these inside a database transaction.
"""

import logging
import os
from pathlib import Path

from botocore.config import Config as BotoConfig
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from storages.backends.s3 import S3Storage

from eventsite.lib.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class StorageUnavailable(ServiceUnavailable):
    code = "STORAGE_UNAVAILABLE"


class ExportsS3Storage(S3Storage):
    """django-storages' S3 backend with this module's client settings: short timeouts and few
    retries, so a dead S3 fails an export with its reason instead of hanging a worker."""

    def get_default_settings(self):
        defaults = super().get_default_settings()
        timeout = settings.S3_TIMEOUT_SECONDS
        defaults["client_config"] = BotoConfig(
            connect_timeout=timeout, read_timeout=timeout * 6,
            retries={"max_attempts": 2, "mode": "standard"}, signature_version="s3v4",
        )
        return defaults


def _storage():
    return storages["exports"]


def is_local() -> bool:
    return isinstance(_storage(), FileSystemStorage)


def upload(*, key: str, path: Path) -> None:
    """Store the file at key, replacing any earlier object (a rerun writes the same key).

    On S3 django-storages uploads through boto3's managed transfer: multipart for big files.
    """
    storage = _storage()
    try:
        if is_local() and storage.exists(key):
            storage.delete(key)  # FileSystemStorage would otherwise pick another name
        with path.open("rb") as handle:
            saved = storage.save(key, File(handle, name=key))
    except Exception as exc:  # noqa: BLE001 - any storage or network failure
        raise StorageUnavailable(f"Object storage failed while writing {key}: {exc.__class__.__name__}") from exc
    if saved != key:
        raise StorageUnavailable(f"Object storage stored {saved!r} instead of {key!r}")


def exists(*, key: str) -> bool:
    try:
        return _storage().exists(key)
    except Exception as exc:  # noqa: BLE001
        raise StorageUnavailable("Object storage is unavailable") from exc


def delete(*, key: str) -> None:
    try:
        _storage().delete(key)
    except Exception as exc:  # noqa: BLE001
        raise StorageUnavailable(f"Object storage failed while deleting {key}") from exc


def presigned_url(*, key: str) -> str:
    """A time-limited download URL (S3 only; settings.REPORT_LINK_SECONDS)."""
    try:
        return _storage().url(key)
    except Exception as exc:  # noqa: BLE001
        raise StorageUnavailable("Object storage is unavailable") from exc


def local_path(*, key: str) -> Path:
    return Path(_storage().path(key))


def check() -> None:
    """A cheap call for the readiness probe: the bucket answers (S3), the folder exists (local)."""
    storage = _storage()
    try:
        if is_local():
            location = Path(storage.location)
            location.mkdir(parents=True, exist_ok=True)  # created by the first export otherwise
            if not os.access(location, os.W_OK):
                raise OSError("the exports folder is not writable")
        else:
            storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    except Exception as exc:  # noqa: BLE001
        raise StorageUnavailable("Object storage is unavailable") from exc
