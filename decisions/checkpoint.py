"""Signed checkpoints of the audit chain, kept outside the database. Pure: no ORM, no I/O.

The hash chain (decisions/chain.py) shows any row changed behind the chain's back.
It does not stop someone who can rewrite the table (the owner of the tables can
disable the append-only trigger) from changing a decision and computing every later
hash and the account's chain head again: the chain then verifies. A checkpoint
closes that gap. It records, from one database snapshot, each account's chain head
(its sequence) and, per bucket of BUCKET_SIZE account ids, a SHA-256 digest of
those heads' hashes, and it is signed with HMAC-SHA256 under a key the database
never holds. A decision at or before a checkpointed head that was changed or
removed changes that head's hash, so the bucket's digest no longer matches, and
without the key no new checkpoint can be made to match. See docs/architecture.md,
"Who can rewrite the audit trail".

The file is gzip-compressed JSON:

    {"format": "limitdesk-audit-checkpoint/1",
     "taken_at": "2026-12-03T00:30:00.123456+00:00",   # the snapshot, database clock
     "database": "limitdesk",
     "bucket_size": 1000,
     "buckets": [{"bucket": 0,                    # account ids 0..999
                  "sequences": [0, 3, 1, ...],     # by id within the bucket; 0: none
                  "digest": "<sha256 hex>"}, ...],
     "signature": "<HMAC-SHA256 hex>"}

The digest is over the lines "<account id> <sequence> <hash>\\n" of the bucket's
accounts in id order; the signature is over the canonical JSON (sorted keys, no
spaces) of everything but the signature. A book of 1,000,000 accounts makes a
file of about a megabyte.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT = "limitdesk-audit-checkpoint/1"
BUCKET_SIZE = 1000
KEY_MIN_LENGTH = 32
FILE_PATTERN = re.compile(r"^audit-checkpoint-\d{8}T\d{12}Z\.json\.gz$")


class CheckpointError(Exception):
    """A checkpoint that cannot be trusted or read; the message says why."""


@dataclass(frozen=True)
class Bucket:
    number: int
    sequences: tuple[int, ...]  # the head's sequence of id number * size + i; 0: none
    digest: str

    def heads(self, size: int) -> list[tuple[int, int]]:
        """(account id, checkpointed sequence) of the accounts it holds."""
        first = self.number * size
        return [(first + i, seq) for i, seq in enumerate(self.sequences) if seq]


@dataclass(frozen=True)
class Checkpoint:
    taken_at: datetime
    database: str
    bucket_size: int
    buckets: tuple[Bucket, ...]

    @property
    def accounts(self) -> int:
        return sum(1 for bucket in self.buckets for seq in bucket.sequences if seq)

    @property
    def decisions(self) -> int:
        """Decisions it covers: a chain holds sequences 1 to its head's."""
        return sum(sum(bucket.sequences) for bucket in self.buckets)

    def bucket_of(self, account_id: int) -> Bucket | None:
        number = account_id // self.bucket_size
        for bucket in self.buckets:
            if bucket.number == number:
                return bucket
        return None


def key_bytes(text: str, source: str) -> bytes:
    """The signing key from its configured text; `source` names where it came from."""
    key = text.strip()
    if len(key) < KEY_MIN_LENGTH:
        raise CheckpointError(
            f"{source} is {len(key)} characters long; an audit checkpoint key needs at "
            f"least {KEY_MIN_LENGTH} (e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)."
        )
    return key.encode()


def bucket_digest(heads: Iterable[tuple[int, int, str]]) -> str:
    """SHA-256 of (account id, sequence, hash) lines, in the given (id) order."""
    digest = hashlib.sha256()
    for account_id, sequence, head_hash in heads:
        digest.update(f"{account_id} {sequence} {head_hash}\n".encode())
    return digest.hexdigest()


class Builder:
    """Collects chain heads, fed in ascending account id, into a checkpoint."""

    def __init__(self, bucket_size: int = BUCKET_SIZE) -> None:
        self.bucket_size = bucket_size
        self.buckets: list[Bucket] = []
        self._number: int | None = None
        self._sequences: list[int] = []
        self._digest = hashlib.sha256()
        self._last_id = -1

    def add(self, account_id: int, sequence: int, head_hash: str) -> None:
        if account_id <= self._last_id:
            raise ValueError("chain heads must come in ascending account id")
        if sequence < 1:
            raise ValueError(f"account {account_id}: a head's sequence starts at 1")
        self._last_id = account_id
        number, offset = divmod(account_id, self.bucket_size)
        if number != self._number:
            self._close()
            self._number, self._sequences, self._digest = number, [], hashlib.sha256()
        self._sequences.extend([0] * (offset - len(self._sequences)))
        self._sequences.append(sequence)
        self._digest.update(f"{account_id} {sequence} {head_hash}\n".encode())

    def _close(self) -> None:
        if self._number is not None:
            self.buckets.append(
                Bucket(self._number, tuple(self._sequences), self._digest.hexdigest())
            )

    def finish(self, *, taken_at: datetime, database: str) -> Checkpoint:
        self._close()
        self._number = None
        return Checkpoint(taken_at.astimezone(UTC), database, self.bucket_size, tuple(self.buckets))


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _signature(key: bytes, document: Mapping[str, Any]) -> str:
    return hmac.new(key, _canonical(document), hashlib.sha256).hexdigest()


def encode(checkpoint: Checkpoint, key: bytes) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "taken_at": checkpoint.taken_at.isoformat(timespec="microseconds"),
        "database": checkpoint.database,
        "bucket_size": checkpoint.bucket_size,
        "buckets": [
            {"bucket": b.number, "sequences": list(b.sequences), "digest": b.digest}
            for b in checkpoint.buckets
        ],
    }
    document["signature"] = _signature(key, document)
    return gzip.compress(_canonical(document), mtime=0)


def decode(data: bytes, key: bytes) -> Checkpoint:
    """The checkpoint in `data`, once its signature holds under `key`."""
    try:
        document = json.loads(gzip.decompress(data))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        raise CheckpointError("it is not a checkpoint file (not gzip-compressed JSON)") from None
    if not isinstance(document, dict) or not isinstance(document.get("signature"), str):
        raise CheckpointError("it is not a checkpoint file (no signature)")
    signature = document.pop("signature")
    if not hmac.compare_digest(signature, _signature(key, document)):
        raise CheckpointError(
            "its signature does not match: the file was altered, or signed with another key"
        )
    try:
        if document["format"] != FORMAT:
            raise CheckpointError(f"its format is {document['format']!r}, not {FORMAT!r}")
        size = int(document["bucket_size"])
        buckets = tuple(
            Bucket(int(b["bucket"]), tuple(int(s) for s in b["sequences"]), str(b["digest"]))
            for b in document["buckets"]
        )
        taken_at = datetime.fromisoformat(document["taken_at"]).astimezone(UTC)
        database = str(document["database"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"it is signed but malformed ({error})") from None
    return Checkpoint(taken_at, database, size, buckets)


def file_name(taken_at: datetime) -> str:
    """Names sort in time order (to the microsecond)."""
    return f"audit-checkpoint-{taken_at.astimezone(UTC):%Y%m%dT%H%M%S%f}Z.json.gz"


def is_file_name(name: str) -> bool:
    return FILE_PATTERN.match(name) is not None


@dataclass(frozen=True)
class Mismatch:
    """A bucket whose heads no longer match the checkpoint."""

    first_id: int  # of the accounts it holds
    last_id: int
    account_ids: tuple[int, ...]
    missing: tuple[tuple[int, int], ...]  # (account id, sequence) no longer there


def compare(bucket: Bucket, size: int, found: Mapping[int, str]) -> Mismatch | None:
    """Check a bucket against the decisions found now: `found` maps an account id to
    the hash of its decision at the checkpointed sequence (absent: none there)."""
    heads = bucket.heads(size)
    now = [(account_id, seq, found.get(account_id, "")) for account_id, seq in heads]
    if bucket_digest(now) == bucket.digest:
        return None
    ids = tuple(account_id for account_id, _seq in heads)
    missing = tuple((account_id, seq) for account_id, seq in heads if account_id not in found)
    return Mismatch(ids[0] if ids else 0, ids[-1] if ids else 0, ids, missing)
