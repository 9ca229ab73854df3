"""DynamoDB JSON (the typed encoding of export files) to and from plain Python.

Every AttributeValue type as AWS documents it and as the real export sample writes it
(design/aws-reference.md §2-3), round trips against boto3's own ``TypeSerializer`` /
``TypeDeserializer``, ``to_plain`` conversions, and errors that name the type but never the value.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe_pipeline.dynamodb_json import DynamoDBJSONError, deserialize_item, deserialize_value, item_size, serialize_item, to_plain


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- decoding every type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ({"S": "Hello"}, "Hello"),
        ({"S": ""}, ""),
        ({"S": "crème brûlée 🍮\n\"quoted\""}, "crème brûlée 🍮\n\"quoted\""),
        ({"BOOL": True}, True),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
    ],
)
def test_scalar_types_decode_to_their_python_values(attribute, expected):
    value = deserialize_value(attribute)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("123", Decimal(123)),
        ("-19", Decimal(-19)),
        ("123.45", Decimal("123.45")),
        ("-0.001", Decimal("-0.001")),
        (".5", Decimal("0.5")),
        ("1E+3", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("-1.5E2", Decimal(-150)),
        ("2.5e-7", Decimal("0.00000025")),
        ("9.9999999999999999999999999999999999999E+125", Decimal("9.9999999999999999999999999999999999999E+125")),
        ("1E-130", Decimal("1E-130")),
        # 38 significant digits: DynamoDB's maximum precision, kept exactly (no float rounding).
        ("12345678901234567890123456789012345678", Decimal("12345678901234567890123456789012345678")),
        ("-99999999999999999999999999999999999999", Decimal("-99999999999999999999999999999999999999")),
        ("1768386096366933", Decimal(1768386096366933)),  # a WriteTimestampMicros
        ("0.1234567890123456789012345678901234567", Decimal("0.1234567890123456789012345678901234567")),
    ],
)
def test_numbers_decode_exactly_as_decimals(text, expected):
    value = deserialize_value({"N": text})
    assert isinstance(value, Decimal) and value == expected
    assert value.is_finite()


def test_binary_values_arrive_as_base64_text_and_decode_to_bytes():
    value = deserialize_value({"B": "dGhpcyB0ZXh0IGlzIGJhc2U2NC1lbmNvZGVk"})  # AWS's own example
    assert isinstance(value, Binary) and value.value == b"this text is base64-encoded"
    assert deserialize_value({"B": ""}).value == b""
    assert deserialize_value({"B": b64(bytes(range(256)))}).value == bytes(range(256))


def test_sets_decode_to_python_sets():
    assert deserialize_value({"SS": ["Giraffe", "Hippo"]}) == {"Giraffe", "Hippo"}
    numbers = deserialize_value({"NS": ["42.2", "-19", "1E+2"]})
    assert numbers == {Decimal("42.2"), Decimal(-19), Decimal(100)} and all(isinstance(n, Decimal) for n in numbers)
    binaries = deserialize_value({"BS": ["U3Vubnk=", "UmFpbnk="]})
    assert {b.value for b in binaries} == {b"Sunny", b"Rainy"}


def test_maps_and_lists_decode_recursively():
    assert deserialize_value({"M": {"Name": {"S": "Joe"}, "Age": {"N": "35"}}}) == {"Name": "Joe", "Age": Decimal(35)}
    assert deserialize_value({"L": [{"S": "Cookies"}, {"N": "3.14159"}]}) == ["Cookies", Decimal("3.14159")]
    assert deserialize_value({"M": {}}) == {} and deserialize_value({"L": []}) == []


def test_deeply_nested_values_decode_binary_at_every_depth():
    attribute = {
        "M": {
            "level1": {
                "L": [
                    {"B": "AAE="},
                    {"M": {"bs": {"BS": ["AA==", "/w=="]}, "n": {"NS": ["1", "2.5"]}}},
                    {"L": [{"L": [{"B": "AgM="}, {"NULL": True}, {"BOOL": False}]}]},
                ]
            },
            "ss": {"SS": ["x"]},
        }
    }
    value = deserialize_value(attribute)
    first, second, third = value["level1"]
    assert first == Binary(b"\x00\x01")
    assert second["bs"] == {Binary(b"\x00"), Binary(b"\xff")} and second["n"] == {Decimal(1), Decimal("2.5")}
    assert third == [[Binary(b"\x02\x03"), None, False]]
    assert value["ss"] == {"x"}


def test_the_input_attribute_is_not_modified():
    attribute = {"M": {"b": {"B": "AAE="}, "l": {"L": [{"BS": ["AA=="]}]}}}
    snapshot = json.loads(json.dumps(attribute))
    deserialize_value(attribute)
    assert attribute == snapshot


# The real export's lines, verbatim (design/aws-reference.md §2, captured from AWS).
REAL_FULL_LINE = '{"Item":{"pk":{"S":"1"},"sk":{"S":"3"},"test2":{"S":"2"},"test1":{"S":"1"}}}'
REAL_UPDATE_LINE = (
    '{"Metadata":{"WriteTimestampMicros":{"N":"1768387673917155"}},"Keys":{"pk":{"S":"1"},"sk":{"S":"3"}},'
    '"OldImage":{"pk":{"S":"1"},"sk":{"S":"3"},"test1":{"S":"1"},"test2":{"S":"2"}},'
    '"NewImage":{"bin_update":{"BS":["0000","0001"]},"pk":{"S":"1"},"sk":{"S":"3"},"test1":{"S":"1"},"test2":{"S":"2"}}}'
)


def test_real_export_lines_decode():
    assert deserialize_item(json.loads(REAL_FULL_LINE)["Item"]) == {"pk": "1", "sk": "3", "test2": "2", "test1": "1"}
    line = json.loads(REAL_UPDATE_LINE)
    assert deserialize_item(line["Metadata"]) == {"WriteTimestampMicros": Decimal(1768387673917155)}
    assert deserialize_item(line["OldImage"]) == {"pk": "1", "sk": "3", "test1": "1", "test2": "2"}
    new = deserialize_item(line["NewImage"])
    # "0000" and "0001" are base64 text (3 bytes each), not hex: boto3 alone would reject them.
    assert new["bin_update"] == {Binary(base64.b64decode("0000")), Binary(base64.b64decode("0001"))}
    assert to_plain(new)["bin_update"] == ["0000", "0001"]


def test_boto3_alone_rejects_base64_text_which_is_why_we_decode_first():
    with pytest.raises(TypeError):
        TypeDeserializer().deserialize({"B": "AAE="})
    assert deserialize_value({"B": "AAE="}) == Binary(b"\x00\x01")


# -- to_plain ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("3", 3),
        ("-19", -19),
        ("10.0", 10),
        ("1E+3", 1000),
        ("-0", 0),
        ("12345678901234567890123456789012345678", 12345678901234567890123456789012345678),
        ("0.5", 0.5),
        ("-123.45", -123.45),
        ("2.5e-7", 2.5e-7),
    ],
)
def test_to_plain_turns_integral_decimals_into_ints_and_the_rest_into_floats(number, expected):
    value = to_plain(deserialize_value({"N": number}))
    assert value == expected and type(value) is type(expected)


def test_to_plain_sorts_sets_by_value_and_encodes_binary_as_base64():
    item = deserialize_item(
        {
            "ns": {"NS": ["10", "9", "-1", "2.5"]},
            "ss": {"SS": ["pear", "apple", "Banana"]},
            "bs": {"BS": ["Ag==", "AQ=="]},
            "b": {"B": "AAE="},
            "m": {"M": {"inner": {"NS": ["2", "1"]}, "l": {"L": [{"B": "/w=="}, {"N": "1.0"}]}}},
            "s": {"S": "text"},
            "t": {"BOOL": True},
            "z": {"NULL": True},
        }
    )
    plain = to_plain(item)
    assert plain == {
        "ns": [-1, 2.5, 9, 10],  # numeric order, not text order
        "ss": ["Banana", "apple", "pear"],
        "bs": ["AQ==", "Ag=="],
        "b": "AAE=",
        "m": {"inner": [1, 2], "l": ["/w==", 1]},
        "s": "text",
        "t": True,
        "z": None,
    }
    assert json.loads(json.dumps(plain)) == plain  # JSON-friendly all the way down
    assert to_plain(plain) == plain  # and idempotent


def test_to_plain_accepts_raw_bytes_and_frozensets():
    assert to_plain(b"\x00\x01") == "AAE=" and to_plain(bytearray(b"\xff")) == "/w=="
    assert to_plain(frozenset({"b", "a"})) == ["a", "b"]


def test_to_plain_gives_the_same_output_for_the_same_set_in_any_order():
    one = to_plain(deserialize_value({"SS": ["c", "a", "b"]}))
    other = to_plain(deserialize_value({"SS": ["b", "c", "a"]}))
    assert one == other == ["a", "b", "c"]


# -- errors: name the type, never the value ---------------------------------------------------

SECRET = "jane.doe@example.com"


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ({"a": {"S": SECRET, "N": "1"}}, "one-key object"),
        ({"a": {}}, "one-key object"),
        ({"a": SECRET}, "got str"),
        ({"a": [SECRET]}, "got list"),
        ({"a": {"B": 12345}}, "base64 text, got int"),
        ({"a": {"B": SECRET}}, "not valid base64"),
        ({"a": {"B": "sécret"}}, "not valid base64"),
        ({"a": {"BS": [SECRET]}}, "not valid base64"),
        ({"a": {"BS": SECRET}}, "BS value must be a list"),
        ({"a": {"N": SECRET}}, "N value must be a decimal number"),
        ({"a": {"N": 5551234}}, "N value must be a decimal number"),
        ({"a": {"N": "NaN"}}, "N value must be a decimal number"),
        ({"a": {"N": "Infinity"}}, "N value must be a decimal number"),
        ({"a": {"N": "-inf"}}, "N value must be a decimal number"),
        ({"a": {"N": " 5551234 "}}, "N value must be a decimal number"),
        ({"a": {"N": ""}}, "N value must be a decimal number"),
        ({"a": {"NS": ["1", SECRET]}}, "N value must be a decimal number"),
        ({"a": {"NS": SECRET}}, "NS value must be a list"),
        ({"a": {"SS": SECRET}}, "SS value must be a list"),
        ({"a": {"SS": [SECRET, 5]}}, "SS value must be a list"),
        ({"a": {"S": 5551234}}, "S value must be a string"),
        ({"a": {"BOOL": SECRET}}, "BOOL value"),
        ({"a": {"XX": SECRET}}, "XX"),
        ({"a": {"L": SECRET}}, "L value must be a list"),
        ({"a": {"M": [SECRET]}}, "M value must be an object"),
        ({"a": {"M": {"deep": {"L": [{"N": SECRET}]}}}}, "N value must be a decimal number"),
        ({"a": {"L": [{"M": {"x": {"B": SECRET}}}]}}, "not valid base64"),
        ({"a": {"L": [{"S": SECRET, "BOOL": True}]}}, "one-key object"),
    ],
)
def test_errors_name_the_problem_but_never_the_value(image, fragment):
    with pytest.raises(DynamoDBJSONError) as error:
        deserialize_item(image)
    message = str(error.value)
    assert fragment in message
    assert SECRET not in message and "5551234" not in message and "sécret" not in message


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("3141592653589793238462643383279502884197", "Inexact"),  # 40 significant digits
        ("2.718281828459045235360287471352662497757", "Inexact"),
        ("1E+200", "Overflow"),  # beyond DynamoDB's 9.99E+125
    ],
)
def test_numbers_beyond_dynamodbs_precision_or_range_are_errors_without_the_digits(number, problem):
    with pytest.raises(DynamoDBJSONError) as error:
        deserialize_value({"N": number})
    message = str(error.value)
    assert "'N'" in message and problem in message
    assert number[:12] not in message


def test_decoding_errors_are_value_errors():
    assert issubclass(DynamoDBJSONError, ValueError)


@pytest.mark.parametrize("image", [["not", "an", "item"], "text", None, 42])
def test_an_item_must_be_an_object(image):
    with pytest.raises(DynamoDBJSONError, match="must be an object"):
        deserialize_item(image)


# -- serializing --------------------------------------------------------------------------------


def test_serialize_item_writes_what_an_export_holds():
    image = serialize_item(
        {
            "s": "text",
            "i": 42,
            "f": 0.5,
            "neg": -1.25,
            "t": True,
            "none": None,
            "b": b"\x00\x01",
            "ss": {"a"},
            "fs": {1.5},
            "bs": {b"\xff"},
            "l": [1, "x", 2.5, b"\x02"],
            "m": {"k": 3.25, "nested": {"b": b"\x03"}},
        }
    )
    assert image == {
        "s": {"S": "text"},
        "i": {"N": "42"},
        "f": {"N": "0.5"},
        "neg": {"N": "-1.25"},
        "t": {"BOOL": True},
        "none": {"NULL": True},
        "b": {"B": "AAE="},
        "ss": {"SS": ["a"]},
        "fs": {"NS": ["1.5"]},
        "bs": {"BS": ["/w=="]},
        "l": {"L": [{"N": "1"}, {"S": "x"}, {"N": "2.5"}, {"B": "Ag=="}]},
        "m": {"M": {"k": {"N": "3.25"}, "nested": {"M": {"b": {"B": "Aw=="}}}}},
    }
    assert json.loads(json.dumps(image)) == image


def test_serialize_item_turns_floats_into_their_shortest_decimal():
    # 0.1 must be written as "0.1", not as the binary float's 55-digit expansion.
    assert serialize_item({"x": 0.1, "y": 0.1 + 0.2})["x"] == {"N": "0.1"}
    assert serialize_item({"y": 0.1 + 0.2})["y"] == {"N": "0.30000000000000004"}
    assert serialize_item({"t": (1.5, 2)})["t"] == {"L": [{"N": "1.5"}, {"N": "2"}]}


def test_boto3_serializer_alone_rejects_floats():
    with pytest.raises(TypeError, match="Float"):
        TypeSerializer().serialize(0.5)


# -- properties ---------------------------------------------------------------------------------

KEYS = st.text(min_size=1, max_size=8)
INTEGERS = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)  # DynamoDB's 38 digits
FLOATS = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False).filter(
    lambda f: f == 0 or abs(f) > 1e-100
)
SCALARS = st.none() | st.booleans() | st.text(max_size=20) | INTEGERS | FLOATS | st.binary(max_size=8)
SETS = (
    st.frozensets(st.text(max_size=6), min_size=1, max_size=4)
    | st.frozensets(st.integers(-(10**20), 10**20), min_size=1, max_size=4)
    | st.frozensets(st.binary(max_size=4), min_size=1, max_size=4)
).map(set)
PLAIN_VALUES = st.recursive(
    SCALARS | SETS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
PLAIN_ITEMS = st.dictionaries(KEYS, PLAIN_VALUES, max_size=5)


def expected_plain(value):
    """What a plain value should look like after an export and ``to_plain``."""
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, set):
        return sorted(expected_plain(v) for v in value)
    if isinstance(value, list):
        return [expected_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: expected_plain(v) for k, v in value.items()}
    return value


def same_types(left, right) -> bool:
    """Equal, and ints stay ints, strings stay strings (floats that are integral may become ints)."""
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(same_types(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(same_types(a, b) for a, b in zip(left, right))
    if isinstance(left, float):
        return isinstance(right, (int, float)) and not isinstance(right, bool) and left == right
    return type(left) is type(right) and left == right


@settings(deadline=None, max_examples=150)
@given(PLAIN_ITEMS)
def test_plain_items_round_trip_through_export_json(item):
    line = json.dumps({"Item": serialize_item(item)})  # exactly as a data file line holds it
    decoded = to_plain(deserialize_item(json.loads(line)["Item"]))
    assert same_types(expected_plain(item), decoded)


def _boto3_serialize_as_export(value):
    """boto3's TypeSerializer output with binary as base64 text, as export files write it."""

    def raw(value) -> bytes:  # boto3 gives bytes back as bytes, and Binary for a Binary
        return value.value if isinstance(value, Binary) else bytes(value)

    def fix(attribute):
        ((tag, inner),) = attribute.items()
        if tag == "B":
            return {"B": b64(raw(inner))}
        if tag == "BS":
            return {"BS": [b64(raw(v)) for v in inner]}
        if tag == "M":
            return {"M": {k: fix(v) for k, v in inner.items()}}
        if tag == "L":
            return {"L": [fix(v) for v in inner]}
        return attribute

    return fix(TypeSerializer().serialize(value))


BOTO_VALUES = st.recursive(
    st.none() | st.booleans() | st.text(max_size=20) | INTEGERS | st.binary(max_size=8) | SETS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def _sets_sorted(attribute):
    """DynamoDB sets have no order: compare SS/NS/BS lists sorted."""
    ((tag, inner),) = attribute.items()
    if tag in ("SS", "NS", "BS"):
        return {tag: sorted(inner)}
    if tag == "M":
        return {"M": {k: _sets_sorted(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_sets_sorted(v) for v in inner]}
    return attribute


@settings(deadline=None, max_examples=150)
@given(st.dictionaries(KEYS, BOTO_VALUES, max_size=5))
def test_our_encoding_matches_boto3s_type_serializer(item):
    ours = {k: _sets_sorted(v) for k, v in serialize_item(item).items()}
    assert ours == {k: _sets_sorted(_boto3_serialize_as_export(v)) for k, v in item.items()}


@settings(deadline=None, max_examples=150)
@given(st.dictionaries(KEYS, BOTO_VALUES, max_size=5))
def test_our_decoding_of_export_text_matches_boto3s_deserializer_on_its_own_output(item):
    # boto3 round-trips in memory (binary as bytes); we read the same item from export JSON text.
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    theirs = {k: deserializer.deserialize(serializer.serialize(v)) for k, v in item.items()}
    ours = deserialize_item(json.loads(json.dumps(serialize_item(item))))
    assert ours == theirs


# -- item size (DynamoDB's "Item sizes and formats") ----------------------------------------------
@pytest.mark.parametrize(
    "image, size",
    [
        ({"s": {"S": "食"}}, 1 + 3),  # UTF-8 bytes, not the 6 of a \u escape
        ({"name": {"S": ""}}, 4),
        ({"b": {"B": base64.b64encode(b"\x00" * 30).decode()}}, 1 + 30),  # raw bytes, not base64's 40
        ({"n": {"N": "12345"}}, 1 + 3 + 1),  # 5 significant digits: 3 bytes, plus 1
        ({"n": {"N": "-0.000120"}}, 1 + 1 + 1),  # leading and trailing zeroes trimmed: 2 digits
        ({"n": {"N": "1E+30"}}, 1 + 1 + 1),
        ({"n": {"N": "0"}}, 1 + 1 + 1),
        ({"n": {"N": "1" * 38}}, 1 + 19 + 1),  # all 38 digits DynamoDB keeps, not Python's 28
        ({"n": {"N": "1" * 37 + "0"}}, 1 + 19 + 1),  # a trailing zero is trimmed
        ({"t": {"BOOL": True}, "u": {"NULL": True}}, 2 + 2),
        ({"m": {"M": {}}}, 1 + 3),
        ({"m": {"M": {"ké": {"S": "ab"}}}}, 1 + 3 + 1 + 3 + 2),  # 3 per map, 1 per element
        ({"l": {"L": [{"S": "ab"}, {"L": []}]}}, 1 + 3 + (1 + 2) + (1 + 3)),
        ({"ss": {"SS": ["a", "食"]}, "ns": {"NS": ["1", "22"]}}, 2 + 1 + 3 + 2 + 2 + 2),
    ],
)
def test_item_size_is_counted_as_dynamodb_counts_it(image, size):
    assert item_size(deserialize_item(image)) == size
