"""Who may do what in the console and the management API (issue 15): the rights, the four roles
that bundle them, and who must sign in with a second factor.

Rights are Django permissions on the models ("app_label.codename"), so every entry point checks
them the same way: `user.has_perm(...)`. Superusers hold every right. The roles are Django groups,
created by eventsite/console/migrations/0003_roles.py and again by `manage.py sync_roles`.
"""

from django.conf import settings

# The rights that matter, by name, so that no entry point spells a codename of its own.
ISSUE_TOKEN = "tokens.issue_token"
REVOKE_TOKEN = "tokens.revoke_token"
PURGE_USER = "events.purge_user"
PURGE_DATASOURCE = "events.purge_datasource"
LIFT_SUPPRESSION = "events.lift_suppression"
CHANGE_RETENTION = "events.change_retention"
START_REPORT = "reports.start_report"
DOWNLOAD_REPORT = "reports.download_report"
VIEW_ALL_REPORTS = "reports.view_all_reports"
VIEW_EVENT_PAYLOAD = "events.view_event_payload"

# Holding any of these requires a second factor in the console, and a personal API token (not a
# password) in the management API: they erase data or hand out credentials.
SECOND_FACTOR_PERMISSIONS = (ISSUE_TOKEN, REVOKE_TOKEN, PURGE_USER, PURGE_DATASOURCE, CHANGE_RETENTION)

OPERATORS = "Operators"
PRIVACY_OFFICERS = "Privacy officers"
REPORT_STAFF = "Report staff"
VIEWERS = "Viewers"

_VIEW_LISTS = [
    "events.view_datasource", "events.view_catalogeventtype", "events.view_catalogcode",
    "events.view_retentionrun", "tokens.view_token",
]

# Each role's permissions ("app_label.codename"); the migration and sync_roles set exactly these.
ROLES: dict[str, list[str]] = {
    OPERATORS: [
        *_VIEW_LISTS,
        "events.add_datasource", "events.change_datasource", "events.delete_datasource",
        "events.add_catalogeventtype", "events.change_catalogeventtype", "events.delete_catalogeventtype",
        "events.add_catalogcode", "events.change_catalogcode", "events.delete_catalogcode",
        CHANGE_RETENTION, ISSUE_TOKEN, REVOKE_TOKEN, "events.view_event",
    ],
    PRIVACY_OFFICERS: [
        "events.view_datasource", "events.view_purgeaudit", "events.view_suppression", "events.view_retentionrun",
        PURGE_USER, PURGE_DATASOURCE, LIFT_SUPPRESSION, "events.view_event", VIEW_EVENT_PAYLOAD,
        "audit.view_staffaction",
    ],
    REPORT_STAFF: ["reports.view_reportjob", START_REPORT, DOWNLOAD_REPORT],
    VIEWERS: [
        *_VIEW_LISTS, "events.view_purgeaudit", "events.view_suppression", "events.view_event",
        "reports.view_reportjob", VIEW_ALL_REPORTS,
    ],
}


def second_factor_required(user) -> bool:
    """Whether `user` must pass a second factor to use the console (and a personal API token,
    not Basic auth, for the management API). REQUIRE_2FA_FOR widens it: "sensitive" (default)
    is those holding a right in SECOND_FACTOR_PERMISSIONS, "staff" every staff user."""
    if not (user.is_active and user.is_staff):
        return False
    if settings.REQUIRE_2FA_FOR == "staff":
        return True
    return user.is_superuser or any(user.has_perm(name) for name in SECOND_FACTOR_PERMISSIONS)
