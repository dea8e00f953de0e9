"""The COPY text writer (events.services.copy_lines): escaping, and a round trip through PostgreSQL."""

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.models import Event
from events.parsing import EventRow
from events.services import COPY_SQL, copy_escape, copy_lines, events_ingest
from tests.services import requires_postgres
from tests.strategies import hostile_text

# The escaping copy_escape replaced (str.translate with this table): the same text for any input.
_TRANSLATE_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@pytest.mark.parametrize("text", ["", "plain", "\\", "\\\\t", "a\tb\nc\rd\\e", "\\n", "\t\\\n", "ünï\\cödé\r\n"])
def test_copy_escape_escapes_backslash_tab_newline_and_carriage_return(text):
    assert copy_escape(text) == text.translate(_TRANSLATE_ESCAPES)


@pytest.mark.properties
@given(st.one_of(hostile_text, st.text(alphabet="\\\t\n\rnt ab")))
def test_copy_escape_gives_the_translate_answer_for_any_text(text):
    assert copy_escape(text) == text.translate(_TRANSLATE_ESCAPES)


def test_a_copy_line_has_one_field_per_column_whatever_the_text_holds():
    payload = {"text": "tab\there\nnew \\ line\r", "back": "\\t"}
    row = EventRow(timestamp=datetime(2026, 12, 1, tzinfo=UTC), payload=payload, payload_json=orjson.dumps(payload),
                   type="a\tb\\", event_id="x\ny")
    text = copy_lines(1, 0, uuid.uuid4(), datetime(2026, 12, 1, tzinfo=UTC), [row])
    assert text.count("\n") == 1 and text.endswith("\n")
    columns = COPY_SQL.split("(", 1)[1].split(")", 1)[0].split(", ")
    assert len(text[:-1].split("\t")) == len(columns)  # no raw tab inside a field


@requires_postgres  # COPY is PostgreSQL's (SQLite stores with bulk_create)
def test_text_with_every_copy_special_character_is_stored_as_sent(datasource):
    texts = ["\\", "\\\\N", "\\N", "a\tb", "a\nb", "a\rb", "\\t\\n"]
    payloads = [{"n": n, "text": text} for n, text in enumerate(texts)]
    rows = [EventRow(timestamp=datetime(2026, 12, 1, tzinfo=UTC), payload=payload, payload_json=orjson.dumps(payload),
                     type=payload["text"], event_id=None) for payload in payloads * 4]  # > 20 rows: the COPY path
    result = events_ingest(datasource=datasource, rows=rows)
    assert result.stored == len(rows)
    stored = list(Event.objects.order_by("sequence").values_list("type", "payload"))
    assert stored == [(payload["text"], payload) for payload in payloads * 4]
