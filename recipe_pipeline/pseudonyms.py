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

from recipe_pipeline.columns import by_distinct

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
        distinct, indices = by_distinct(user_ids)
        return pa.array([self._remembered(u) for u in distinct], pa.string()).take(indices)

    def pseudonyms(self, user_ids: Iterable[str]) -> list[str]:
        """List form of ``pseudonym_column``."""
        return self.pseudonym_column(pa.array(list(user_ids), pa.string())).to_pylist()
