import base64
import socket

import boto3
import pytest
from django.contrib.auth.models import User
from moto.server import ThreadedMotoServer

from eventsite.celery import app
from eventsite.lib.access import REPORT_STAFF
from reports.models import ReportUser
from tests.factories import make_staff


@pytest.fixture
def eager_celery():
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False


def basic(username: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def tgam_user(db):
    user = User.objects.create_user("tgam", password="long-enough-pass-1")
    ReportUser.objects.create(user=user, customer="TGAM")
    return basic("tgam", "long-enough-pass-1")


@pytest.fixture
def staff_basic(db):
    make_staff("ops", REPORT_STAFF)  # starts reports and downloads its own
    return basic("ops", "long-enough-pass-1")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BUCKET = "eventsite-exports"


@pytest.fixture(scope="session")
def s3_endpoint():
    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


