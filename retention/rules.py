"""What is kept how long: the categories of records that are pruned, their floors and
defaults, and the check of a configuration. Pure: no ORM (docs/architecture.md,
"Retention").

Limit decisions, the audit chain (checkpoints), policy versions and their events
are never pruned: they are not a category here, and nothing in this app deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass

# A month for these periods: 25 months of Reg B is kept as 762 days (25 × 30.44
# rounded up); three years of PIPL as 1,096 days (one leap day included).
API_CALLS, SIGNAL_EVENTS, APPEAL_EVIDENCE, REVEALS, NOTICES = (
    "api_calls",
    "signal_events",
    "appeal_evidence",
    "reveals",
    "notices",
)
CATEGORIES = (API_CALLS, SIGNAL_EVENTS, APPEAL_EVIDENCE, REVEALS, NOTICES)

# The floors the database functions hold too (migration retention/0002): keep equal.
API_CALLS_FLOOR_DAYS = 183  # EU AI Act Art. 12, 26(6): automatic logs at least six months
REVEALS_FLOOR_DAYS = 1096  # PIPL Art. 55-56: records of processing kept three years
REG_B_FLOOR_DAYS = 762  # Reg B §202.12(b): records kept 25 months after the notice

# Rows deleted per short transaction; the most one batch may take.
BATCH_MAX = 50_000


@dataclass(frozen=True)
class Rule:
    category: str
    setting: str  # the environment variable and Django setting
    default_days: int
    floor_days: int | None  # None: the floor is another setting (the idempotency window)
    meets: str  # the rule the default meets, in the README's words


RULES = (
    Rule(
        API_CALLS,
        "RETENTION_API_CALL_LOG_DAYS",
        400,
        API_CALLS_FLOOR_DAYS,
        "EU AI Act Art. 12 and 26(6): automatic logs kept at least six months",
    ),
    Rule(
        SIGNAL_EVENTS,
        "RETENTION_SIGNAL_EVENT_DAYS",
        400,
        None,
        "at least SIGNAL_EVENT_IDEMPOTENCY_DAYS, the window in which a resent event id "
        "answers duplicate; kept as long as the API call log",
    ),
    Rule(
        APPEAL_EVIDENCE,
        "RETENTION_APPEAL_EVIDENCE_DAYS",
        REG_B_FLOOR_DAYS,
        REG_B_FLOOR_DAYS,
        "Reg B §202.12(b): 25 months; counted from the appeal's closing",
    ),
    Rule(
        REVEALS,
        "RETENTION_REVEAL_DAYS",
        REVEALS_FLOOR_DAYS,
        REVEALS_FLOOR_DAYS,
        "PIPL Art. 55-56: records kept three years",
    ),
    Rule(
        NOTICES,
        "RETENTION_NOTICE_DAYS",
        REG_B_FLOOR_DAYS,
        REG_B_FLOOR_DAYS,
        "Reg B §202.12(b): 25 months after the notice",
    ),
)
RULE_OF = {rule.category: rule for rule in RULES}


def problems(values: dict[str, object], *, idempotency_days: object, batch: object) -> list[str]:
    """What is wrong with a configuration (setting name → value), in words naming the
    setting and the rule; empty when it may be used."""
    found: list[str] = []
    window = idempotency_days
    if not _positive(window):
        found.append(f"SIGNAL_EVENT_IDEMPOTENCY_DAYS must be a positive integer, not {window!r}")
        window = None
    if not _positive(batch) or batch > BATCH_MAX:  # type: ignore[operator]
        found.append(
            f"RETENTION_BATCH_SIZE must be an integer from 1 to {BATCH_MAX}, not {batch!r}"
        )
    for rule in RULES:
        value = values.get(rule.setting)
        if not _positive(value):
            found.append(f"{rule.setting} must be a positive integer (days), not {value!r}")
            continue
        floor = rule.floor_days if rule.floor_days is not None else window
        if floor is not None and value < floor:  # type: ignore[operator]
            if rule.floor_days is None:
                found.append(
                    f"{rule.setting} is {value} days, shorter than "
                    f"SIGNAL_EVENT_IDEMPOTENCY_DAYS ({floor}): a resent event id must stay "
                    "known for the whole idempotency window"
                )
            else:
                found.append(
                    f"{rule.setting} is {value} days; at least {floor} are needed ({rule.meets})"
                )
    return found


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
