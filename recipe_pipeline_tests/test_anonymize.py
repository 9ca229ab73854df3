"""A raw day to the analytics zone: nothing identifying crosses over; recipes and tools derived."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA, anonymize_day
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.raw import RAW_SCHEMA


def raw_table(rows: list[dict]) -> pa.Table:
    defaults = {"date_str": None, "ttl": None, "has_recipe": None, "recipe_name": None, "extra_attributes": None, "write_micros": 1, "source_export": "e"}
    full = []
    for i, row in enumerate(rows):
        full.append({
            **defaults,
            "conversation_id": "c1",
            "timestamp": f"2025-01-01T10:00:{i:02d}Z",
            "message_ts": datetime(2025, 1, 1, 10, 0, i, tzinfo=UTC),
            **row,
        })
    return pa.Table.from_pylist(full, schema=RAW_SCHEMA)


def test_anonymized_day():
    raw = raw_table([
        {"user_id": "user-secret-1", "role": "user", "message": "Recipe for ramen? mail me at bob@example.com", "metadata": None},
        {"user_id": "assistant", "role": "assistant", "message": "Here's a recipe for Ramen: boil 2 L of water.", "metadata": json.dumps({"tools_used": ["web_search", "timer"]})},
        {"user_id": "user-secret-1", "role": "user", "message": "Thanks! call me on (555) 123-4567", "metadata": json.dumps({"rating": 5})},
        {"user_id": "user-secret-2", "role": "tool", "message": "cookware_check: ok", "metadata": json.dumps({"tool": "cookware_check", "rating": 9})},
        {"user_id": "user-secret-2", "role": "user", "message": "hmm", "metadata": "{not json"},
    ])
    result = anonymize_day(raw, Pseudonymizer("k"))
    table = result.table
    assert table.schema.equals(ANONYMIZED_SCHEMA)
    assert table.column("timestamp").to_pylist() == raw.column("timestamp").to_pylist()  # order and keys kept
    rows = table.to_pylist()
    text = json.dumps([{k: v for k, v in r.items() if k != "message_ts"} for r in rows])
    assert "user-secret" not in text and "bob@example.com" not in text and "123-4567" not in text
    assert rows[0]["message"] == "Recipe for ramen? mail me at [EMAIL]"
    assert rows[0]["user_id"] == rows[2]["user_id"] == Pseudonymizer("k").pseudonym("user-secret-1")
    assert [r["recipe_name"] for r in rows] == [None, "ramen", None, None, None]  # assistant messages only
    assert [r["recipe_category"] for r in rows] == [None, "soup", None, None, None]
    assert [r["has_recipe"] for r in rows] == [False, True, False, False, False]
    assert [r["tools_used"] for r in rows] == [[], ["timer", "web_search"], [], ["cookware_check"], []]
    assert [r["rating"] for r in rows] == [None, None, 5, None, None]  # 9 is not a 1-5 rating
    assert [r["pii_redactions"] for r in rows] == [1, 0, 1, 0, 0]
    assert rows[0]["message_length"] == len(rows[0]["message"])
    assert {k: v for k, v in result.redactions_by_kind.items() if v} == {"EMAIL": 1, "PHONE": 1}


def test_an_empty_day():
    assert anonymize_day(raw_table([]), Pseudonymizer("k")).table.num_rows == 0
