"""kSense purge API: /api/v2/insights/purge_user and /api/v2/insights/purge_dataset.

GET as documented, and also POST/DELETE (safer against crawlers and prefetchers), with the
token in X-KSense-Tok (or the documented ?token=). Parameters come from the query string or
a form body. Only a `purge`-scoped token of the named datasource may purge.
"""

from django.http import HttpRequest

from events.models import DataSource
from eventsite.http.auth import authenticate_request
from eventsite.http.common import api_view, json_response
from eventsite.http.ksense import ksense_error
from eventsite.lib.errors import InvalidInput, PermissionDenied
from reports.purges import Actor, purge_dataset, purge_user
from tokens.models import Scope

METHODS = ("GET", "POST", "DELETE")
TRUE_VALUES = ("1", "true", "yes")


def _param(request: HttpRequest, name: str, *, required: bool = True) -> str | None:
    value = request.GET.get(name)
    if value is None and request.method == "POST":
        value = request.POST.get(name)
    if required and not value:
        raise InvalidInput(f"The {name!r} parameter is required", field=name)
    return value


def _purge_datasource(request: HttpRequest) -> tuple[DataSource, Actor]:
    token = authenticate_request(request, scope=Scope.PURGE)
    slug = _param(request, "ds")
    if slug != token.datasource.slug:
        raise PermissionDenied(f"This token may not purge datasource {slug!r}")
    return token.datasource, Actor.for_token(token)


@api_view(methods=METHODS, render_error=ksense_error)
def purge_user_view(request: HttpRequest):
    datasource, actor = _purge_datasource(request)
    user_id = _param(request, "user_id")
    kind = _param(request, "user_id_type")
    suppress = (_param(request, "suppress", required=False) or "").lower() in TRUE_VALUES
    purge_user(datasource=datasource, kind=kind, user_id=user_id, actor=actor, suppress=suppress)
    return json_response({"status": "OK"})


@api_view(methods=METHODS, render_error=ksense_error)
def purge_dataset_view(request: HttpRequest):
    datasource, actor = _purge_datasource(request)
    purge_dataset(datasource=datasource, actor=actor)
    return json_response({"status": "OK"})
