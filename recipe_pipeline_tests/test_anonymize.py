"""A raw day to the analytics zone: nothing identifying crosses over; recipes and tools derived."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from recipe_pipeline import lake as layout
from recipe_pipeline.anonymize import ANONYMIZED_SCHEMA, anonymize_day, write_anonymized_day
from recipe_pipeline.pii import PII_KINDS, find_pii
from recipe_pipeline.pseudonyms import Pseudonymizer
from recipe_pipeline.raw import RAW_SCHEMA

KEY = "test-key"
BASE = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)


def raw_table(rows: list[dict]) -> pa.Table:
    """A raw day as ``raw_conversations`` holds it; each row needs user_id, role, message."""
    full = []
    for i, row in enumerate(rows):
        moment = row.pop("moment", BASE + timedelta(seconds=i))
        full.append(
            {
                "conversation_id": "c1",
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "message_ts": moment,
                "metadata": None,
                "date_str": moment.strftime("%Y-%m-%d"),
                "ttl": int((moment + timedelta(days=90)).timestamp()),
                "has_recipe": None,
                "recipe_name": None,
                "extra_attributes": None,
                "write_micros": 1,
                "source_export": "01736000000000-abcdef12",
                **row,
            }
        )
    return pa.Table.from_pylist(full, schema=RAW_SCHEMA)


def anonymized_rows(rows: list[dict]) -> list[dict]:
    return anonymize_day(raw_table(rows), Pseudonymizer(KEY)).table.to_pylist()


def as_text(rows: list[dict]) -> str:
    return json.dumps([{k: v for k, v in r.items() if k != "message_ts"} for r in rows], ensure_ascii=False)


SECRET_ROWS = [
    {"user_id": "user-secret-1", "role": "user", "message": "Recipe for ramen? mail me at bob@example.com", "metadata": None},
    {"user_id": "assistant", "role": "assistant", "message": "Here's a recipe for Ramen: boil 2 L of water.", "metadata": json.dumps({"tools_used": ["web_search", "timer"]})},
    {"user_id": "user-secret-1", "role": "user", "message": "Thanks! call me on (555) 123-4567", "metadata": json.dumps({"rating": 5})},
    {"user_id": "user-secret-2", "role": "user", "message": "card 4111 1111 1111 1111 and +44 20 7946 0958", "metadata": "{not json",
     "extra_attributes": json.dumps({"email": "carol@example.org"}), "recipe_name": "carol@example.org", "has_recipe": True},
]


def test_the_output_has_the_analytics_schema():
    result = anonymize_day(raw_table([dict(r) for r in SECRET_ROWS]), Pseudonymizer(KEY))
    assert result.table.schema.equals(ANONYMIZED_SCHEMA)
    assert result.table.num_rows == len(SECRET_ROWS)


def test_no_raw_user_id_or_pii_survives():
    rows = anonymized_rows([dict(r) for r in SECRET_ROWS])
    text = as_text(rows)
    for secret in ("user-secret", "bob@example.com", "123-4567", "4111", "7946", "carol@example.org"):
        assert secret not in text, secret
    assert "assistant" not in {r["user_id"] for r in rows}  # every user_id is a pseudonym
    assert all(find_pii(r["message"]) == [] for r in rows)
    assert [r["message"] for r in rows] == [
        "Recipe for ramen? mail me at [EMAIL]",
        "Here's a recipe for Ramen: boil 2 L of water.",
        "Thanks! call me on [PHONE]",
        "card [CARD] and [PHONE]",
    ]
    assert [r["pii_redactions"] for r in rows] == [1, 0, 1, 2]


def test_pseudonyms_are_the_keyed_ones_and_stable():
    rows = anonymized_rows([dict(r) for r in SECRET_ROWS])
    p = Pseudonymizer(KEY)
    assert [r["user_id"] for r in rows] == [p.pseudonym(r["user_id"]) for r in SECRET_ROWS]
    assert rows[0]["user_id"] == rows[2]["user_id"] != rows[3]["user_id"]
    other_key = anonymize_day(raw_table([dict(r) for r in SECRET_ROWS]), Pseudonymizer("another-key")).table
    assert other_key.column("user_id").to_pylist()[0] != rows[0]["user_id"]


def test_redactions_are_counted_per_kind():
    result = anonymize_day(raw_table([dict(r) for r in SECRET_ROWS]), Pseudonymizer(KEY))
    assert set(result.redactions_by_kind) == set(PII_KINDS)
    assert {k: v for k, v in result.redactions_by_kind.items() if v} == {"EMAIL": 1, "PHONE": 2, "CARD": 1}
    assert sum(result.redactions_by_kind.values()) == sum(result.table.column("pii_redactions").to_pylist())


def test_row_order_and_keys_are_kept():
    # Deliberately not in timestamp order, over two conversations.
    moments = [BASE + timedelta(minutes=m) for m in (30, 5, 50, 0, 12)]
    rows = [
        {"conversation_id": f"c{i % 2}", "moment": moment, "user_id": f"u{i}", "role": "user", "message": f"step {i}"}
        for i, moment in enumerate(moments)
    ]
    raw = raw_table(rows)
    table = anonymize_day(raw, Pseudonymizer(KEY)).table
    for column in ("conversation_id", "timestamp", "message_ts", "role"):
        assert table.column(column).to_pylist() == raw.column(column).to_pylist(), column
    assert table.column("message").to_pylist() == [f"step {i}" for i in range(5)]


def test_recipes_come_from_assistant_messages_only():
    rows = anonymized_rows(
        [
            {"user_id": "u1", "role": "user", "message": "How to make lasagne?", "recipe_name": "lasagna", "has_recipe": True},
            {"user_id": "a", "role": "assistant", "message": "How to make lasagne: layer the sheets."},
            {"user_id": "a", "role": "tool", "message": "web_search: pancakes recipes"},
            {"user_id": "a", "role": "assistant", "message": "Here's a recipe for a smoky bean stew!"},
            {"user_id": "a", "role": "assistant", "message": "Tell me what you have in the fridge.", "recipe_name": "pizza", "has_recipe": True},
            {"user_id": "a", "role": "assistant", "message": "Here's a recipe for jo@x.com"},  # PII is never a dish
        ]
    )
    assert [r["recipe_name"] for r in rows] == [None, "lasagna", None, "smoky bean stew", None, None]
    assert [r["recipe_category"] for r in rows] == [None, "pasta", None, "other", None, None]
    assert [r["has_recipe"] for r in rows] == [False, True, False, True, False, False]


@pytest.mark.parametrize(
    ("metadata", "tools", "rating"),
    [
        (None, [], None),
        ("", [], None),
        ("{not json", [], None),
        ("[1, 2]", [], None),
        ('"just a string"', [], None),
        ("42", [], None),
        ("null", [], None),
        ("{}", [], None),
        (json.dumps({"tools_used": ["web_search", "timer"]}), ["timer", "web_search"], None),
        (json.dumps({"tools_used": ["timer", "timer", "", None, 3]}), ["timer"], None),
        (json.dumps({"tools_used": "unit_conversion"}), ["unit_conversion"], None),
        (json.dumps({"tools_used": []}), [], None),
        (json.dumps({"tools_used": 5}), [], None),
        (json.dumps({"tools_used": True}), [], None),
        (json.dumps({"tools_used": {"timer": 1}}), [], None),
        (json.dumps({"tool": "cookware_check"}), ["cookware_check"], None),
        (json.dumps({"tool": "timer", "tools_used": ["web_search"]}), ["timer", "web_search"], None),
        (json.dumps({"tool": 7}), [], None),
        (json.dumps({"rating": 5}), [], 5),
        (json.dumps({"rating": 1}), [], 1),
        (json.dumps({"rating": 0}), [], None),
        (json.dumps({"rating": 9}), [], None),  # not a 1-5 rating
        (json.dumps({"rating": -3}), [], None),
        (json.dumps({"rating": "5"}), [], None),
        (json.dumps({"rating": True}), [], None),
        (json.dumps({"rating": None}), [], None),
        (json.dumps({"rating": 4, "tools_used": ["timer"], "model": "chef-v2"}), ["timer"], 4),
        # Only identifiers cross over: free text or an address in a tool field does not.
        (json.dumps({"tools_used": ["web_search", "jane@example.com", "call me on 555 0100", "x" * 65]}), ["web_search"], None),
        (json.dumps({"tool": "bob@example.com"}), [], None),
    ],
)
def test_tools_and_rating_are_parsed_from_metadata(metadata, tools, rating):
    rows = anonymized_rows([{"user_id": "u", "role": "assistant", "message": "ok", "metadata": metadata}])
    assert rows[0]["tools_used"] == tools
    assert rows[0]["rating"] == rating


def test_metadata_does_not_cross_over():
    rows = anonymized_rows([{"user_id": "u", "role": "user", "message": "hi", "metadata": json.dumps({"ip": "10.0.0.1", "rating": 5})}])
    assert "10.0.0.1" not in as_text(rows)
    assert set(rows[0]) == {f.name for f in ANONYMIZED_SCHEMA}


@pytest.mark.parametrize(
    "message",
    ["call me on (555) 123-4567", "plain text", "", "crème brûlée for 4 🍮", "mail jo@x.com or jo@y.com"],
)
def test_message_length_is_of_the_scrubbed_text(message):
    row = anonymized_rows([{"user_id": "u", "role": "user", "message": message}])[0]
    assert row["message_length"] == len(row["message"])


def test_message_length_changes_when_pii_is_scrubbed():
    row = anonymized_rows([{"user_id": "u", "role": "user", "message": "mail jane.doe.longname@example.com"}])[0]
    assert row["message"] == "mail [EMAIL]" and row["message_length"] == 12


def test_an_empty_day():
    result = anonymize_day(raw_table([]), Pseudonymizer(KEY))
    assert result.table.num_rows == 0 and result.table.schema.equals(ANONYMIZED_SCHEMA)
    assert sum(result.redactions_by_kind.values()) == 0


def test_the_same_raw_day_gives_the_same_result():
    first = anonymize_day(raw_table([dict(r) for r in SECRET_ROWS]), Pseudonymizer(KEY)).table
    second = anonymize_day(raw_table([dict(r) for r in SECRET_ROWS]), Pseudonymizer(KEY)).table
    assert first.equals(second)


def test_a_day_written_in_several_batches_is_the_day_anonymized_whole(project):
    # Each batch is scrubbed while the one before it is finished: an odd last batch included.
    day = BASE.strftime("%Y-%m-%d")
    raw = raw_table([{"user_id": f"u{i % 3}", "role": ("user", "assistant")[i % 2], "message": f"step {i}: mail me{i}@example.com"}
                     for i in range(7)])
    project.lake.write_parquet(raw, layout.raw_conversations_path(day))
    summary = write_anonymized_day(project.lake, day, Pseudonymizer(KEY), batch_rows=2)
    written = project.lake.read_parquet(layout.conversations_path(day))
    assert written.equals(anonymize_day(raw, Pseudonymizer(KEY)).table)
    assert summary.rows == summary.raw_rows == 7


def test_raw_user_ids_typed_into_messages_become_placeholders():
    rows = anonymized_rows([
        {"user_id": "user-secret-1", "role": "user", "message": "my account is user-secret-1, the app logged me out"},
        {"user_id": "user-secret-2", "role": "user", "message": "my friend user-secret-1 sent me; mail me at bob@example.com"},
        {"user_id": "assistant", "role": "assistant", "message": "Sorry about that!"},
    ])
    assert [r["message"] for r in rows] == [
        "my account is [USER_ID], the app logged me out",
        "my friend [USER_ID] sent me; mail me at [EMAIL]",
        "Sorry about that!",
    ]
    assert [r["pii_redactions"] for r in rows] == [1, 2, 0]
    assert "user-secret" not in as_text(rows)


def test_a_raw_id_is_replaced_in_any_batch_of_the_day(project):
    # The id of a user whose rows are in another batch: the day's ids, not the batch's.
    day = BASE.strftime("%Y-%m-%d")
    raw = raw_table([{"user_id": "user-early-1", "role": "user", "message": "hello"}]
                    + [{"user_id": f"user-later-{i}", "role": "user", "message": "is user-early-1 my cousin?"} for i in range(4)])
    project.lake.write_parquet(raw, layout.raw_conversations_path(day))
    summary = write_anonymized_day(project.lake, day, Pseudonymizer(KEY), batch_rows=2)
    written = project.lake.read_parquet(layout.conversations_path(day))
    assert written.column("message").to_pylist()[1:] == ["is [USER_ID] my cousin?"] * 4
    assert summary.redactions_by_kind["USER_ID"] == 4


@pytest.mark.parametrize(
    "user_id, message, expected",
    [
        # Ids go before the PII scrub: twelve hex digits can read as a phone number.
        ("user-020794960018", "I'm user-020794960018, I got logged out", "I'm [USER_ID], I got logged out"),
        # ...and the scrub then finds what the id was glued to.
        ("user-6dbc46c7161a", "send the box to user-6dbc46c7161a12 Oak Street please", "send the box to [USER_ID][ADDRESS] please"),
    ],
)
def test_a_raw_id_goes_whole_before_the_pii_scrub(user_id, message, expected):
    [row] = anonymized_rows([{"user_id": user_id, "role": "user", "message": message}])
    assert row["message"] == expected and find_pii(row["message"]) == []
