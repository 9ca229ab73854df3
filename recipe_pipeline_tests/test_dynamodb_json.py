"""DynamoDB JSON decoding: every attribute type, as exports write them."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from recipe_pipeline.dynamodb_json import DynamoDBJSONError, deserialize_item, deserialize_value, serialize_item, to_plain


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ({"S": "Hello"}, "Hello"),
        ({"N": "123.45"}, Decimal("123.45")),
        ({"N": "-19"}, Decimal(-19)),
        ({"N": "1E+3"}, Decimal("1E+3")),
        ({"N": "12345678901234567890123456789012345678"}, Decimal("12345678901234567890123456789012345678")),
        ({"B": "dGhpcyB0ZXh0IGlzIGJhc2U2NC1lbmNvZGVk"}, b"this text is base64-encoded"),
        ({"BOOL": True}, True),
        ({"NULL": True}, None),
        ({"M": {"Name": {"S": "Joe"}, "Age": {"N": "35"}}}, {"Name": "Joe", "Age": Decimal(35)}),
        ({"L": [{"S": "Cookies"}, {"N": "3.14159"}]}, ["Cookies", Decimal("3.14159")]),
        ({"SS": ["Giraffe", "Hippo"]}, {"Giraffe", "Hippo"}),
        ({"NS": ["42.2", "-19"]}, {Decimal("42.2"), Decimal(-19)}),
        ({"BS": ["U3Vubnk=", "UmFpbnk="]}, {b"Sunny", b"Rainy"}),
        ({"M": {"inner": {"L": [{"B": "AAE="}, {"M": {"bs": {"BS": ["AA=="]}}}]}}}, {"inner": [b"\x00\x01", {"bs": {b"\x00"}}]}),
    ],
)
def test_every_attribute_type_decodes(attribute, expected):
    value = deserialize_value(attribute)
    if isinstance(expected, (bytes, set, list, dict)):
        assert to_plain(value) == to_plain(expected)
    else:
        assert value == expected


def test_the_real_export_sample_with_a_binary_set_decodes():
    # From a real incremental export (design/aws-reference.md §2): BS values are base64 text.
    image = {"bin_update": {"BS": ["0000", "0001"]}, "pk": {"S": "1"}, "sk": {"S": "3"}}
    item = deserialize_item(image)
    assert item["pk"] == "1" and len(item["bin_update"]) == 2


def test_to_plain_makes_parquet_friendly_values():
    item = deserialize_item({"n": {"N": "3"}, "f": {"N": "0.5"}, "ss": {"SS": ["b", "a"]}, "b": {"B": "AAE="}, "m": {"M": {"x": {"NS": ["2", "1"]}}}})
    assert to_plain(item) == {"n": 3, "f": 0.5, "ss": ["a", "b"], "b": "AAE=", "m": {"x": [1, 2]}}
    assert isinstance(to_plain(item)["n"], int)


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ({"a": {"S": "secret text", "N": "1"}}, "one-key object"),
        ({"a": {"B": 12345}}, "base64 text"),
        ({"a": {"B": "not base64!!"}}, "not valid base64"),
        ({"a": {"N": "not-a-number-secret"}}, "N value must be a decimal number"),
        ({"a": {"XX": "secret"}}, "XX"),
        ({"a": {"L": "secret"}}, "L value must be a list"),
        ({"a": {"M": ["secret"]}}, "M value must be an object"),
    ],
)
def test_errors_name_the_problem_but_never_the_value(image, fragment):
    with pytest.raises(DynamoDBJSONError) as error:
        deserialize_item(image)
    assert fragment in str(error.value)
    assert "secret" not in str(error.value)


def test_an_item_must_be_an_object():
    with pytest.raises(DynamoDBJSONError, match="must be an object"):
        deserialize_item(["not", "an", "item"])


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=20)
    | st.integers(min_value=-(10**18), max_value=10**18)
    | st.binary(min_size=1, max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(min_size=1, max_size=8), plain_values, max_size=5))
def test_serialize_then_deserialize_round_trips(item):
    image = serialize_item(item)
    decoded = to_plain(deserialize_item(image))

    def expected(value):
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, list):
            return [expected(v) for v in value]
        if isinstance(value, dict):
            return {k: expected(v) for k, v in value.items()}
        return value

    assert decoded == expected(item)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=10) | st.integers(-1000, 1000) | st.booleans(), max_size=5))
def test_our_encoding_matches_boto3s_type_serializer(item):
    serializer = TypeSerializer()
    assert serialize_item(item) == {k: serializer.serialize(v) for k, v in item.items()}
