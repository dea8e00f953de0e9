"""Django signal receivers of the ops package."""

from eventsite.lib import metrics


def admin_login_failed(sender, credentials=None, request=None, **kwargs):
    # Failed admin logins answer 200 (the form again), so the middleware's 401 count misses them.
    # API Basic logins answer 401 and are counted there: only admin pages are counted here.
    if request is not None and request.path.startswith("/admin/"):
        metrics.auth_failed(family="admin")
