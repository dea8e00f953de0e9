"""The production storage path: django-storages + boto3 against a real S3 API (moto's server
mode on 127.0.0.1). Presigned links are fetched over HTTP, as a client would."""

import csv
import io
import json

import boto3
import pytest
import requests

from reports.models import ReportJob
from reports.tests.conftest import BUCKET, closed_port
from reports.tests.test_reports_api import barchart_event, ingest, start

pytestmark = pytest.mark.django_db(transaction=True)


def s3_storage(endpoint: str, expire: int = 900) -> dict:
    from botocore.config import Config

    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": endpoint, "region_name": "us-east-1", "access_key": "test",
        "secret_key": "test", "file_overwrite": True, "querystring_auth": True, "querystring_expire": expire,
        "default_acl": None,
        "client_config": Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1},
                                signature_version="s3v4")}}


def objects(endpoint: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_report_lands_on_s3_and_its_presigned_link_serves_it(client, ingest_token, tgam_user, eager_celery,
                                                               settings, s3_endpoint):
    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint)}
    events = [barchart_event(i) for i in range(20)]
    ingest(client, ingest_token.raw, events)
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    job = ReportJob.objects.get()
    assert job.status == "COMPLETE", job.status_reason
    assert f"reports/{job.id}.csv" in objects(s3_endpoint)
    link = client.get(f"/reports/{source}", headers=tgam_user).json()["link"]
    assert link.startswith(s3_endpoint) and "X-Amz-Signature" in link and "X-Amz-Expires=900" in link
    response = requests.get(link, timeout=5)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text), delimiter="|"))
    assert rows[1:] == [[str(e["timestamp"]), e["type"], *e["context"]] for e in events]


def test_a_presigned_link_is_signed_for_the_configured_lifetime(client, ingest_token, tgam_user, eager_celery,
                                                                 settings, s3_endpoint):
    # moto's server does not enforce expiry (real S3 does, from X-Amz-Date + X-Amz-Expires),
    # so this checks what we control: the signature covers exactly the configured lifetime.
    from datetime import UTC, datetime
    from urllib.parse import parse_qs, urlparse

    settings.REPORT_LINK_SECONDS = 60
    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint, expire=60)}
    ingest(client, ingest_token.raw, [barchart_event(1)])
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    link = client.get(f"/reports/{source}", headers=tgam_user).json()["link"]
    query = parse_qs(urlparse(link).query)
    assert query["X-Amz-Expires"] == ["60"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 30
    assert requests.get(link, timeout=5).status_code == 200


def test_the_default_link_lifetime_is_fifteen_minutes():
    from django.conf import settings

    assert settings.REPORT_LINK_SECONDS == 900


def test_s3_down_fails_the_job_with_the_reason_and_leaves_no_object(client, ingest_token, tgam_user, eager_celery,
                                                                     settings, s3_endpoint):
    before = objects(s3_endpoint)
    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(f"http://127.0.0.1:{closed_port()}")}
    ingest(client, ingest_token.raw, [barchart_event(1)])
    source = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}).json()["source"]
    job = ReportJob.objects.get()
    assert job.status == "FAILED" and "Object storage failed" in job.status_reason
    assert client.get(f"/reports/{source}/availability", headers=tgam_user).json()["status"] == "FAILED"
    assert objects(s3_endpoint) == before
    assert json.loads(client.get(f"/reports/{source}", headers=tgam_user).content)[0]["value"]["code"] == (
        "EVENT_JOB_GET_FAILED")
