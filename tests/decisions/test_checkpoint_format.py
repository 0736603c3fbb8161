"""decisions/checkpoint.py: the file, its digests and its signature (pure, no database)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import UTC, datetime

import pytest

from decisions import checkpoint

KEY = b"k" * 40
TAKEN = datetime(2026, 12, 3, 0, 30, 0, 123456, tzinfo=UTC)


def head(account_id: int, sequence: int) -> str:
    return hashlib.sha256(f"{account_id}:{sequence}".encode()).hexdigest()


def build(heads: list[tuple[int, int]], size: int = checkpoint.BUCKET_SIZE):
    builder = checkpoint.Builder(size)
    for account_id, sequence in heads:
        builder.add(account_id, sequence, head(account_id, sequence))
    return builder.finish(taken_at=TAKEN, database="limitdesk")


def test_heads_fall_into_buckets_of_account_ids():
    made = build([(1, 2), (999, 1), (1000, 3), (2500, 4)])
    assert [b.number for b in made.buckets] == [0, 1, 2]
    assert made.buckets[0].heads(1000) == [(1, 2), (999, 1)]
    assert made.buckets[2].heads(1000) == [(2500, 4)]
    assert made.accounts == 4 and made.decisions == 10
    assert made.buckets[0].digest == checkpoint.bucket_digest(
        [(1, 2, head(1, 2)), (999, 1, head(999, 1))]
    )


def test_heads_must_come_in_account_order():
    builder = checkpoint.Builder()
    builder.add(5, 1, head(5, 1))
    with pytest.raises(ValueError, match="ascending account id"):
        builder.add(5, 2, head(5, 2))


def test_a_checkpoint_reads_back_as_written_with_its_key_only():
    made = build([(1, 2), (7, 1), (1234, 5)])
    data = checkpoint.encode(made, KEY)
    assert checkpoint.decode(data, KEY) == made
    with pytest.raises(checkpoint.CheckpointError, match="signature does not match"):
        checkpoint.decode(data, b"x" * 40)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["buckets"][0]["sequences"].__setitem__(1, 1),
        lambda d: d["buckets"][0].__setitem__("digest", "0" * 64),
        lambda d: d["buckets"].pop(),
        lambda d: d.__setitem__("taken_at", "2026-12-04T00:30:00+00:00"),
    ],
    ids=["a sequence", "a digest", "a bucket", "the time"],
)
def test_any_change_to_the_file_breaks_the_signature(change):
    document = json.loads(gzip.decompress(checkpoint.encode(build([(1, 2), (1500, 3)]), KEY)))
    change(document)
    with pytest.raises(checkpoint.CheckpointError, match="signature does not match"):
        checkpoint.decode(gzip.compress(json.dumps(document).encode()), KEY)


def test_what_is_no_checkpoint_says_so():
    with pytest.raises(checkpoint.CheckpointError, match="not gzip-compressed JSON"):
        checkpoint.decode(b"plain text", KEY)
    with pytest.raises(checkpoint.CheckpointError, match="no signature"):
        checkpoint.decode(gzip.compress(b'{"format": "x"}'), KEY)


def test_comparing_names_what_changed_and_what_is_missing():
    made = build([(1, 2), (2, 3), (3, 1)])
    bucket = made.buckets[0]
    now = {1: head(1, 2), 2: head(2, 3), 3: head(3, 1)}
    assert checkpoint.compare(bucket, 1000, now) is None
    rewritten = {**now, 2: "f" * 64}
    mismatch = checkpoint.compare(bucket, 1000, rewritten)
    assert mismatch is not None
    assert (mismatch.first_id, mismatch.last_id, mismatch.missing) == (1, 3, ())
    gone = {1: now[1], 3: now[3]}
    mismatch = checkpoint.compare(bucket, 1000, gone)
    assert mismatch is not None and mismatch.missing == ((2, 3),)


def test_a_short_key_is_refused():
    with pytest.raises(checkpoint.CheckpointError, match="needs at least 32"):
        checkpoint.key_bytes("short", "AUDIT_CHECKPOINT_KEY")
    assert checkpoint.key_bytes(" " + "a" * 32 + "\n", "x") == b"a" * 32


def test_file_names_sort_in_time_order():
    earlier = checkpoint.file_name(TAKEN)
    later = checkpoint.file_name(TAKEN.replace(microsecond=123457))
    assert earlier == "audit-checkpoint-20261203T003000123456Z.json.gz"
    assert earlier < later and checkpoint.is_file_name(later)
    assert not checkpoint.is_file_name(f".{later}.partial")


def test_a_book_of_a_million_accounts_makes_a_small_file():
    rng = random.Random(2026)
    builder = checkpoint.Builder()
    fake_hash = "a" * 64  # the digests are what the file holds, not the hashes
    for account_id in range(1, 1_000_001):
        builder.add(account_id, rng.randint(1, 20), fake_hash)
    data = checkpoint.encode(builder.finish(taken_at=TAKEN, database="limitdesk"), KEY)
    assert len(data) < 1_000_000, len(data)
