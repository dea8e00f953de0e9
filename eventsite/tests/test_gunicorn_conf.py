"""gunicorn's settings (eventsite/gunicorn_conf.py): each worker listens on a socket of its own."""

import importlib

import pytest

from eventsite import gunicorn_conf
from eventsite.lib.env import ConfigurationError


@pytest.fixture
def load_conf(monkeypatch):
    def load(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(gunicorn_conf)

    yield load
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_workers_accept_on_sockets_of_their_own_by_default(load_conf, monkeypatch):
    monkeypatch.delenv("WEB_REUSE_PORT", raising=False)
    conf = load_conf()
    assert conf.reuse_port is True
    assert conf.worker_class == "gthread"


def test_web_reuse_port_false_returns_to_one_shared_socket(load_conf):
    assert load_conf(WEB_REUSE_PORT="false").reuse_port is False


def test_a_web_reuse_port_that_is_no_boolean_is_refused(load_conf):
    with pytest.raises(ConfigurationError, match="WEB_REUSE_PORT"):
        load_conf(WEB_REUSE_PORT="sometimes")
