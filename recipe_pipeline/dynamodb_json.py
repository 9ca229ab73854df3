"""DynamoDB JSON (the typed ``{"S": ...}`` encoding used by exports) to and from plain Python.

Decoding goes through boto3's own ``TypeDeserializer``; the one gap it has for export files is
that ``B``/``BS`` values arrive as base64 text, which it rejects, so they are decoded first.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

_DESERIALIZER = TypeDeserializer()
_SERIALIZER = TypeSerializer()


class DynamoDBJSONError(ValueError):
    """An attribute value that is not valid DynamoDB JSON."""


def _b64_to_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise DynamoDBJSONError(f"binary value must be base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise DynamoDBJSONError(f"binary value is not valid base64: {exc}") from exc


_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _check_number(value: Any) -> None:
    # Decimal() would quietly turn "abc" into NaN; DynamoDB numbers are always finite decimals.
    # No strip(): boto3's context.create_decimal() turns " 1" into NaN, so whitespace is invalid.
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise DynamoDBJSONError(f"an N value must be a decimal number in a string, got an invalid {type(value).__name__}")


def _check_numbers(tag: str, value: Any) -> None:
    """An N value, or every value of an NS list, is a finite decimal in a string."""
    if tag == "N":
        _check_number(value)
        return
    if not isinstance(value, list):
        raise DynamoDBJSONError("NS value must be a list")
    for number in value:
        _check_number(number)


def _binary_to_bytes(attribute: Any) -> Any:
    """Return ``attribute`` with every B/BS value (at any depth) turned from base64 into bytes."""
    if not isinstance(attribute, dict) or len(attribute) != 1:
        # Messages name types, never values: values may be personal data.
        raise DynamoDBJSONError(f"an attribute value must be a one-key object, got {type(attribute).__name__}")
    ((tag, value),) = attribute.items()
    if tag in ("N", "NS"):
        _check_numbers(tag, value)
        return attribute
    # boto3 passes S/SS/BOOL through unchecked: {"SS": "text"} would become a set of characters.
    if tag == "S" and not isinstance(value, str):
        raise DynamoDBJSONError(f"S value must be a string, got {type(value).__name__}")
    if tag == "SS" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise DynamoDBJSONError("SS value must be a list of strings")
    if tag == "BOOL" and not isinstance(value, bool):
        raise DynamoDBJSONError(f"BOOL value must be true or false, got {type(value).__name__}")
    if tag == "B":
        return {"B": _b64_to_bytes(value)}
    if tag == "BS":
        if not isinstance(value, list):
            raise DynamoDBJSONError("BS value must be a list")
        return {"BS": [_b64_to_bytes(v) for v in value]}
    if tag == "M":
        if not isinstance(value, dict):
            raise DynamoDBJSONError("M value must be an object")
        return {"M": {k: _binary_to_bytes(v) for k, v in value.items()}}
    if tag == "L":
        if not isinstance(value, list):
            raise DynamoDBJSONError("L value must be a list")
        return {"L": [_binary_to_bytes(v) for v in value]}
    return attribute


def deserialize_value(attribute: dict[str, Any]) -> Any:
    """One DynamoDB JSON attribute value to Python (Decimal, set, Binary, ... as boto3 gives them)."""
    try:
        return _DESERIALIZER.deserialize(_binary_to_bytes(attribute))
    except DynamoDBJSONError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        tag = next(iter(attribute), "?") if isinstance(attribute, dict) else type(attribute).__name__
        raise DynamoDBJSONError(f"cannot decode a {tag!r} value ({type(exc).__name__})") from exc


def deserialize_item(image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB JSON item (attribute name -> typed value) to a dict of boto3 Python values."""
    if not isinstance(image, dict):
        raise DynamoDBJSONError(f"an item must be an object, got {type(image).__name__}")
    return {name: deserialize_value(value) for name, value in image.items()}


def _value_size(value: Any) -> int:
    """One boto3 value's size as DynamoDB counts it ("Item sizes and formats")."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, Decimal):  # 1 byte per two significant digits, plus 1
        # Its own digits less leading and trailing zeros: normalize() would round past 28.
        digits = len("".join(map(str, value.as_tuple().digits)).strip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, Binary):
        return len(value.value)
    if isinstance(value, (set, frozenset)):  # SS, NS, BS: their elements
        return sum(_value_size(v) for v in value)
    if isinstance(value, list):  # 3 bytes, and 1 per element
        return 3 + sum(1 + _value_size(v) for v in value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in value.items())
    raise TypeError(f"not a value deserialize_value gives: {type(value).__name__}")


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB counts against its 400 KB item limit, of a ``deserialize_item`` result:
    attribute names and strings in UTF-8 bytes, binary in raw bytes, numbers by significant
    digits, and 3 bytes per map or list plus 1 per element (a JSON text's length is not it: it
    counts a CJK character as the 6 bytes of its \\u escape, and base64 as 4/3 of the bytes)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def to_plain(value: Any) -> Any:
    """boto3 values to JSON-friendly Python: Decimal -> int/float, sets -> sorted lists,
    binary -> base64 text. Sets are sorted so that the same item always serializes the same."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        # Numbers sort by value: an NS holds ints and floats once converted ({2.5, -1} -> [-1, 2.5]).
        return sorted((to_plain(v) for v in value), key=lambda v: ("number" if isinstance(v, (int, float)) else str(type(v)), v))
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def _floats_to_decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _floats_to_decimal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_floats_to_decimal(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {_floats_to_decimal(v) for v in value}
    return value


def _bytes_to_b64(attribute: dict[str, Any]) -> dict[str, Any]:
    ((tag, value),) = attribute.items()
    if tag in ("N", "NS"):
        _check_numbers(tag, value)
        return attribute
    if tag == "B":
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if tag == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in value]}
    if tag == "M":
        return {"M": {k: _bytes_to_b64(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_bytes_to_b64(v) for v in value]}
    return attribute


def serialize_item(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python item to DynamoDB JSON as an export file holds it (floats become Decimals,
    binary becomes base64 text)."""
    return {name: _bytes_to_b64(_SERIALIZER.serialize(_floats_to_decimal(v))) for name, v in item.items()}
