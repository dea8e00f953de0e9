"""DRF authentication for the management API (kept apart from eventsite/http/manage/drf.py: DRF imports
authentication classes while rest_framework.views is still loading)."""

from drf_spectacular.authentication import BasicScheme
from rest_framework import authentication, exceptions

from eventsite.http.ratelimit import check_auth_failures, note_auth_failure


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic auth behind the failed-auth limiter (per address and per username, as report users):
    each attempt runs PBKDF2, and unknown-username floods filled both cores (issue 11, defect 3).
    NUL in credentials is refused before django-axes looks them up: no stored user has one, and
    PostgreSQL refuses NUL in a query (it was a 500; found by fuzzing)."""

    def authenticate_credentials(self, userid, password, request=None):
        if "\x00" in userid or "\x00" in password:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        check_auth_failures(request, scope="basic", username=userid)
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            note_auth_failure(request, scope="basic", username=userid)
            raise


class BasicAuthenticationScheme(BasicScheme):
    """Describes the subclass above in the OpenAPI schema as drf-spectacular's basicAuth."""

    target_class = "eventsite.http.manage.authentication.BasicAuthentication"
