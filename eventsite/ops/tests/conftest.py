from reports.tests.conftest import eager_celery, staff_basic, tgam_user  # noqa: F401 - shared fixtures
