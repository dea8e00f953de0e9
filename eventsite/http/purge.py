"""kSense purge API: /api/v2/insights/purge_user and /api/v2/insights/purge_dataset.

GET as documented, and also POST/DELETE (safer against crawlers and prefetchers), with the
token in X-KSense-Tok (or the documented ?token=). Parameters come from the query string or
a form body. Only a `purge`-scoped token of the named datasource may purge.
"""

from django.http import HttpRequest

from events.models import IDENTITY_TYPES, DataSource
from eventsite.http.auth import TOKEN_SCHEMES, authenticate_request
from eventsite.http.common import Answer, Operation, Param, api_view, json_response, ref
from eventsite.http.ksense import ksense_error
from eventsite.lib.errors import InvalidInput, PermissionDenied
from reports.purges import Actor, purge_dataset, purge_user
from tokens.models import Scope

METHODS = ("GET", "POST", "DELETE")
TRUE_VALUES = ("1", "true", "yes")
DS_PARAM = Param("ds", "The datasource slug (the token's).")


def _operation(summary: str, params: tuple[Param, ...]) -> Operation:
    return Operation(summary=summary, tag="kSense", auth=TOKEN_SCHEMES, params=params, form_on_post=True,
                     answer=Answer("Purged.", ref("KSenseOK")), errors=(400, 401, 403, 405, 429, 503))


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


@api_view(methods=METHODS, render_error=ksense_error, operation=_operation(
    "Delete every event of one user in the datasource (purge-scoped token).",
    (DS_PARAM, Param("user_id"), Param("user_id_type", enum=IDENTITY_TYPES),
     Param("suppress", f"{'/'.join(TRUE_VALUES)}: also drop this user's later events at ingest.", required=False)),
))
def purge_user_view(request: HttpRequest):
    datasource, actor = _purge_datasource(request)
    user_id = _param(request, "user_id")
    kind = _param(request, "user_id_type")
    suppress = (_param(request, "suppress", required=False) or "").lower() in TRUE_VALUES
    purge_user(datasource=datasource, kind=kind, user_id=user_id, actor=actor, suppress=suppress)
    return json_response({"status": "OK"})


@api_view(methods=METHODS, render_error=ksense_error, operation=_operation(
    "Hide every event of the datasource at once; rows are deleted in the background.", (DS_PARAM,),
))
def purge_dataset_view(request: HttpRequest):
    datasource, actor = _purge_datasource(request)
    purge_dataset(datasource=datasource, actor=actor)
    return json_response({"status": "OK"})
