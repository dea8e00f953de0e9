"""Keeping API tokens out of logs and error reports.

Tokens travel in ?token= / ?tok=, X-KSense-Tok, `Authorization: Bearer` (and passwords in
`Authorization: Basic`). Django's request logging writes only the path ("Unauthorized: /x"),
but other messages and error reports can carry a full URL or the request's headers, so:
- ScrubTokens (a logging filter on our handlers) rewrites every message, redacting those values;
- TokenSafeExceptionReporterFilter hides the token header, Authorization and the query string in
  the request META of error reports (the stock filter hides TOKEN but not X-KSense-Tok). No
  handler renders such reports in production: LOGGING drops Django's mail_admins handler.
"""

import logging
import re

from django.views.debug import SafeExceptionReporterFilter

REDACTED = "[redacted]"
_PATTERNS = (
    # token=... / tok=... in a query string or URL
    (re.compile(r"(?i)([?&;]|\b)((?:token|tok)=)[^&\s\"'#]*"), r"\1\2" + REDACTED),
    # header values as they appear in dumps: X-KSense-Tok: v, HTTP_X_KSENSE_TOK': 'v'
    (re.compile(r"(?i)(x[-_]ksense[-_]tok['\"]?\s*[:=,]\s*['\"]?)[^'\"\s,}]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
)


def scrub(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ScrubTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Render the traceback now so it can be scrubbed too (exception messages may quote input).
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class TokenSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|TOK|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|QUERY_STRING|REQUEST_URI|RAW_URI",
        flags=re.IGNORECASE,
    )
