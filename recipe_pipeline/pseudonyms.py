"""Keyed pseudonyms for user ids: HMAC-SHA256(key, user_id), hex, stable across days.

Unlike the seed's ``sha256(date:user_id)`` (a public salt anyone can recompute over a list of
user ids, and a daily one that breaks returning-user and WAU/MAU metrics), a keyed HMAC cannot be
reversed or recomputed without the secret key, and the same user keeps one pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

PSEUDONYM_HEX_CHARS = 32  # 128 bits: no collisions at any plausible user count


class Pseudonymizer:
    def __init__(self, key: str | bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key must not be empty")
        self._key = key.encode() if isinstance(key, str) else key

    def pseudonym(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def pseudonym_column(self, user_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Columnar form: one HMAC per distinct id, gathered back by the dictionary indices."""
        encoded = pc.dictionary_encode(user_ids)
        encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
        distinct = pa.array([None if u is None else self.pseudonym(u) for u in encoded.dictionary.to_pylist()], pa.string())
        return distinct.take(encoded.indices)

    def pseudonyms(self, user_ids: Iterable[str]) -> list[str]:
        """Batch form: one HMAC per distinct id (a day has far fewer users than messages)."""
        cache: dict[str, str] = {}
        out = []
        for user_id in user_ids:
            value = cache.get(user_id)
            if value is None:
                value = cache[user_id] = self.pseudonym(user_id)
            out.append(value)
        return out
