"""The Barchart events API's error bodies, shared by its ingest, service and report views.

401 is `{"message": "Unauthorized"}`; every other failure is an array of nodes, each with a
`value` {code, message} and `children` naming the offending fields.
"""

from eventsite.lib.errors import AuthenticationFailed, DomainError, InvalidInput, PayloadTooLarge


def barchart_error(error: DomainError):
    if isinstance(error, AuthenticationFailed):
        return {"message": "Unauthorized"}
    if isinstance(error, (InvalidInput, PayloadTooLarge)):
        children = [
            {"value": {"code": "REQUEST_PARAMETER_MALFORMED", "message": detail}}
            for detail in (error.details or [error.message])
        ]
        return [{"value": {"code": "REQUEST_INPUT_MALFORMED", "message": error.message}, "children": children}]
    return [{"value": {"code": error.code, "message": error.message}, "children": []}]
