"""DRF authentication for the management API (kept apart from eventsite/http/manage/drf.py: DRF imports
authentication classes while rest_framework.views is still loading).

Three ways in, tried in this order (settings.REST_FRAMEWORK):
- `Authorization: Bearer evp_...`: a personal API token (tokens.services.personal_token_authenticate),
  acting with its user's permissions. The way for scripts.
- `Authorization: Basic`: a staff user's password, but not for users who must pass a second factor
  (eventsite.lib.access.second_factor_required): a password alone would bypass it, so they get a 401
  telling them to use a personal API token.
- The console's session: for users who must pass a second factor, only a session that passed it
  (django_otp's OTPMiddleware sets request.user.is_verified()); otherwise 403.
"""

from drf_spectacular.authentication import BasicScheme, SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from eventsite.http.ratelimit import check_auth_failures, note_auth_failure
from eventsite.lib.access import second_factor_required
from eventsite.lib.errors import AuthenticationFailed as DomainAuthenticationFailed
from tokens.services import personal_token_authenticate

USE_A_PERSONAL_TOKEN = (
    "This account must use a personal API token (Authorization: Bearer evp_...), issued in the console under "
    "Tokens > Personal API tokens: its password alone would bypass the second factor."
)


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <personal API token>`. Failures count against the client address like
    Basic's (eventsite/http/ratelimit.py): a token has 256 random bits, but each guess costs a lookup."""

    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        check_auth_failures(request, scope="bearer")
        if len(parts) != 2:
            note_auth_failure(request, scope="bearer")
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer <token>")
        try:
            raw = parts[1].decode("ascii")
            token = personal_token_authenticate(raw=raw)
        except (UnicodeDecodeError, DomainAuthenticationFailed) as error:
            note_auth_failure(request, scope="bearer")
            message = error.message if isinstance(error, DomainAuthenticationFailed) else "The token is not valid"
            raise exceptions.AuthenticationFailed(message) from None
        return token.user, token

    def authenticate_header(self, request):
        # DRF answers 401 (not 403) to unauthenticated calls when the first class names a scheme.
        return 'Bearer realm="api"'


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic auth behind the failed-auth limiter (per address and per username, as report users):
    each attempt runs PBKDF2, and unknown-username floods filled both cores (issue 11, defect 3).
    NUL in credentials is refused before django-axes looks them up: no stored user has one, and
    PostgreSQL refuses NUL in a query (it was a 500; found by fuzzing).
    Users who must pass a second factor are refused even with the right password (see the module)."""

    def authenticate_credentials(self, userid, password, request=None):
        if "\x00" in userid or "\x00" in password:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        check_auth_failures(request, scope="basic", username=userid)
        try:
            user, auth = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            note_auth_failure(request, scope="basic", username=userid)
            raise
        if second_factor_required(user):
            raise exceptions.AuthenticationFailed(USE_A_PERSONAL_TOKEN)
        return user, auth


class SessionAuthentication(authentication.SessionAuthentication):
    """The console's session (with DRF's CSRF check), refused with 403 to users who must pass a second
    factor when this session has not (they sign in to the console again, or use a personal API token)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _auth = result
        if second_factor_required(user):
            # The Django request's user: OTPMiddleware gives it is_verified(); DRF's request.user is the same
            # object, but reading it here would recurse into authentication.
            django_user = getattr(request._request, "user", None)
            is_verified = getattr(django_user, "is_verified", None)
            if not (callable(is_verified) and is_verified()):
                raise exceptions.PermissionDenied(
                    "This session has not passed the second factor: sign in to the console again with your "
                    "authenticator code, or use a personal API token (Authorization: Bearer evp_...)."
                )
        return result


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Describes PersonalTokenAuthentication in the OpenAPI schema as an HTTP bearer scheme."""

    target_class = "eventsite.http.manage.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (evp_...), issued once in the console: Tokens > Personal API "
                           "tokens. It acts with its user's permissions.",
        }


class BasicAuthenticationScheme(BasicScheme):
    """Describes the Basic subclass above in the OpenAPI schema as drf-spectacular's basicAuth."""

    target_class = "eventsite.http.manage.authentication.BasicAuthentication"


class SessionAuthenticationScheme(SessionScheme):
    """Describes the session subclass above in the OpenAPI schema as drf-spectacular's cookieAuth."""

    target_class = "eventsite.http.manage.authentication.SessionAuthentication"
