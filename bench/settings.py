"""Settings for benchmark servers: production settings plus a trivial reference view."""

from eventsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
