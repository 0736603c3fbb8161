"""Staged rollout: which accounts a version in rollout scores."""

from __future__ import annotations

import hashlib

import numpy as np

from scoring.rules import CompiledRules
from scoring.vectorised import ChunkInput, ChunkResult, score_chunk

ROLLOUT_BUCKETS = 10_000  # a share is a whole number of percent: 100 buckets each
# The same bucket in PostgreSQL, for the runs' chunk query (a test holds them equal).
ROLLOUT_BUCKET_SQL = "mod(('x' || substr(md5(a.reference), 1, 8))::bit(32)::bigint, 10000)"


def rollout_bucket(reference: str) -> int:
    """A stable bucket in [0, 10000) from the account reference."""
    digest = hashlib.md5(reference.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % ROLLOUT_BUCKETS


def rollout_cutoff(share_pct: int) -> int:
    """Accounts whose bucket is below this get the version in rollout; widening
    a share keeps everyone already in it."""
    return share_pct * ROLLOUT_BUCKETS // 100


def score_with_rollout(
    base: CompiledRules,
    candidate: CompiledRules | None,
    share_pct: int,
    data: ChunkInput,
    *,
    cycle: bool = True,
) -> tuple[ChunkResult, np.ndarray]:
    """Score a chunk with the active version, and the accounts in the rollout share
    with the candidate. Returns the merged result and each row's slot (0 active,
    1 candidate); a candidate row's band indexes the candidate's bands, offset by
    the number of the active version's bands."""
    result = score_chunk(base, data, cycle=cycle)
    slot = np.zeros(len(data.ids), dtype=np.int8)
    if candidate is None:
        return result, slot
    chosen = data.bucket < rollout_cutoff(share_pct)
    if not chosen.any():
        return result, slot
    other = score_chunk(candidate, data, cycle=cycle)
    other.band = other.band + len(base.rules.bands)
    for name in result.__dataclass_fields__:
        mine, theirs = getattr(result, name), getattr(other, name)
        mask = chosen[:, None] if mine.ndim == 2 else chosen
        setattr(result, name, np.where(mask, theirs, mine))
    slot[chosen] = 1
    return result, slot
