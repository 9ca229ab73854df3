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
KNOWN_IDS_LIMIT = 200_000  # pseudonyms remembered across batches (~30 MB at most)


class Pseudonymizer:
    def __init__(self, key: str | bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key must not be empty")
        # Keyed once; each id continues from a copy (HMAC's key schedule is most of its cost).
        self._keyed = hmac.new(key.encode() if isinstance(key, str) else key, digestmod=hashlib.sha256)
        self._known: dict[str, str] = {}  # ids seen in earlier batches of the day

    def pseudonym(self, user_id: str) -> str:
        mac = self._keyed.copy()
        mac.update(user_id.encode())
        return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]

    def _remembered(self, user_id: str) -> str:
        value = self._known.get(user_id)
        if value is None:
            if len(self._known) >= KNOWN_IDS_LIMIT:
                self._known.clear()  # bounded memory; ids are simply hashed again
            value = self._known[user_id] = self.pseudonym(user_id)
        return value

    def pseudonym_column(self, user_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Columnar form: one HMAC per distinct id, gathered back by the dictionary indices."""
        encoded = pc.dictionary_encode(user_ids)
        encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
        distinct = pa.array([None if u is None else self._remembered(u) for u in encoded.dictionary.to_pylist()], pa.string())
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
