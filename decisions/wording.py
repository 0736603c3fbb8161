"""The figures of an explanation in words, in the active language. No database.

decisions.explain finds the facts; this says them: a signal's value in its own
unit, the best bin it fell short of, the threshold a rule crossed and the limit
that rule gives, and the change that would restore a limit
(docs/architecture.md, "Reasons").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _

import scoring
from accounts.signal_spec import SIGNALS_BY_NAME
from decisions import explain


def money(amount: Decimal | int) -> str:
    """¥8,000 (¥8,000.50 when there are cents): grouped the same in every language."""
    value = Decimal(amount)
    return f"¥{value:,.0f}" if value == value.to_integral_value() else f"¥{value:,.2f}"


def cents_money(cents: int) -> str:
    return money(Decimal(cents) / 100)


def label(signal: str) -> str:
    spec = SIGNALS_BY_NAME.get(signal)
    return str(spec.label) if spec else signal


def value(signal: str, raw: Any) -> str:
    """A signal's value in its unit: 35 %, ¥9,000, 14, yes."""
    spec = SIGNALS_BY_NAME.get(signal)
    number = scoring.as_number(raw)
    kind = spec.kind if spec else "int"
    if kind == "bool":
        return _("yes") if number else _("no")
    if kind == "ratio":
        return f"{number_format(Decimal(str(number)) * 100, decimal_pos=0)} %"
    if kind == "money":
        return money(Decimal(str(number)))
    return number_format(int(number), force_grouping=True)


def best_range(fact: explain.ScoreFact) -> str:
    low = None if fact.best_low is None else value(fact.signal, fact.best_low)
    high = None if fact.best_high is None else value(fact.signal, fact.best_high)
    if low is None:
        return _("under %(high)s") % {"high": high}
    if high is None:
        return _("%(low)s or more") % {"low": low}
    return _("%(low)s to under %(high)s") % {"low": low, "high": high}


def score_fact(fact: explain.ScoreFact) -> str:
    return _("%(label)s: %(value)s; %(best)s scores best (%(lost)s points below)") % {
        "label": label(fact.signal),
        "value": value(fact.signal, fact.value),
        "best": best_range(fact),
        "lost": fact.lost,
    }


OPERATORS = {">=": "≥", ">": ">", "<": "<", "=": "=", "": ""}


def rule_fact(row: scoring.Crossed, *, band: str, new_limit: Decimal | None) -> str:
    """A rule the decision crossed, with the limit it gave when it set the figure."""
    if row.code == scoring.BAND_CEILING:
        text = _("the limit %(limit)s is above band %(band)s's ceiling of %(ceiling)s") % {
            "limit": money(row.value),
            "band": band,
            "ceiling": money(row.threshold),
        }
    elif row.code == scoring.PORTFOLIO_OVERLAY:
        text = _("the portfolio overlay (factor %(factor)s) lowers band %(band)s's ceiling") % {
            "factor": row.value,
            "band": band,
        }
    elif row.code == scoring.COOLDOWN:
        return _("the line stays closed for %(days)s days after a closure") % {"days": row.value}
    else:
        if isinstance(row.threshold, bool):
            threshold = _("yes") if row.threshold else _("no")
        elif row.signal in SIGNALS_BY_NAME:
            threshold = value(row.signal, row.threshold)
        else:
            threshold = str(row.threshold)
        text = _("%(label)s: %(value)s (the rule applies at %(op)s %(threshold)s)") % {
            "label": label(row.signal),
            "value": value(row.signal, row.value),
            "op": OPERATORS.get(row.op, row.op),
            "threshold": threshold,
        }
        if row.effect == "reduce" and row.pct is not None:
            text += "; " + _("cuts by %(pct)s %%") % {"pct": format(row.pct.normalize(), "f")}
        elif row.effect == "close":
            text += "; " + _("closes the line")
    if new_limit is not None:
        text += "; " + _("this set the limit: %(limit)s") % {"limit": money(new_limit)}
    return text


def step(item: explain.Step) -> str:
    if item.signal in explain.BOOLEAN:
        return _("%(label)s: yes") % {"label": label(item.signal)}
    bound = value(item.signal, item.bound)
    changed = (
        _("at least %(bound)s") % {"bound": bound}
        if item.higher
        else _("under %(bound)s") % {"bound": bound}
    )
    return _("%(label)s %(changed)s (now %(now)s)") % {
        "label": label(item.signal),
        "changed": changed,
        "now": value(item.signal, item.value),
    }


def restoration(found: explain.Restoration, *, old_limit: Decimal) -> str:
    changes = _(" and ").join(step(item) for item in found.steps)
    if found.lifts_the_cut:
        result = _("the limit would have stayed at %(limit)s (band %(band)s)") % {
            "limit": money(old_limit),
            "band": found.band,
        }
    else:
        result = _("band %(band)s, a limit of %(limit)s (the band allows up to %(ceiling)s)") % {
            "band": found.band,
            "limit": cents_money(found.limit),
            "ceiling": cents_money(found.ceiling),
        }
    return _("%(changes)s: %(result)s.") % {"changes": changes, "result": result}
