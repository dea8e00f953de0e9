"""Report errors, with the Barchart codes their failure arrays carry."""

from eventsite.lib.errors import Conflict, DomainError, NotFound


class ReportJobNotFound(NotFound):
    code = "EVENT_JOB_GET_FAILED_NO_JOB"


class ReportJobRunning(Conflict):
    code = "EVENT_JOB_GET_FAILED_RUNNING"


class ReportJobUnavailable(DomainError):
    status_code = 409
    code = "EVENT_JOB_GET_FAILED"
