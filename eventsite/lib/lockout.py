"""django-axes authentication backend that also accepts authenticate() calls without a request.

Stock AxesStandaloneBackend raises when no request is passed (Django's test Client.login,
scripts). Such calls are not HTTP logins, so there is nothing to lock out: we step aside and
let ModelBackend answer. Every HTTP path (admin login, DRF/report Basic auth) passes the request.
"""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
