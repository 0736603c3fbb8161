"""The draft editor: one field per threshold. Values stay text here; the policy
parser (scoring.parse_policy) checks them and names every problem."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

import scoring
from config.text import RATIONALE_MAX, REASON_MAX
from policies.labels import RULE_LABELS

# Scalar thresholds in the editor's order (bands come first, as a table).
NOT_SCALAR = {"bands", "close_on_public_record", "overlay_rationale"}
SCALARS = [name for name in scoring.DEFAULT_POLICY if name not in NOT_SCALAR]
INTEGERS = {
    "close_dpd",
    "min_age",
    "multi_lending_applications_30d",
    "utilization_months",
    "raise_good_cycles",
    "cooldown_days",
    "reason_min_points",
    "decrease_protection_days",
}


def band_field(index: int, part: str) -> str:
    return f"band_{index}_{part}"


class DraftForm(forms.Form):
    """Thresholds of a draft; `bands` is how many band rows it shows."""

    rationale = forms.CharField(
        label=_("Rationale: why the thresholds change"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=RATIONALE_MAX,
        required=False,
    )  # fmt: skip  (the service checks it, with the thresholds, so all show at once)
    close_on_public_record = forms.BooleanField(
        label=RULE_LABELS["close_on_public_record"], required=False
    )
    overlay_rationale = forms.CharField(
        label=RULE_LABELS["overlay_rationale"], max_length=REASON_MAX
    )

    def __init__(self, *args: Any, bands: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.band_count = bands
        for index in range(bands):
            self.fields[band_field(index, "name")] = forms.CharField(
                label=_("Band %(n)s name") % {"n": index + 1}, max_length=8
            )
            self.fields[band_field(index, "min_score")] = forms.CharField(
                label=_("Band %(n)s from score") % {"n": index + 1}, max_length=12
            )
            self.fields[band_field(index, "ceiling")] = forms.CharField(
                label=_("Band %(n)s ceiling (yuan)") % {"n": index + 1}, max_length=20
            )
        for name in SCALARS:
            self.fields[name] = forms.CharField(label=RULE_LABELS.get(name, name), max_length=20)

    @classmethod
    def for_rules(cls, rules: dict[str, Any], rationale: str) -> DraftForm:
        # A version written before a threshold existed shows the value it is read with.
        rules = {**scoring.READ_AS_DEFAULT, **rules}
        initial: dict[str, Any] = {name: rules.get(name) for name in SCALARS}
        initial["close_on_public_record"] = rules.get("close_on_public_record")
        initial["overlay_rationale"] = rules.get("overlay_rationale")
        initial["rationale"] = rationale
        for index, band in enumerate(rules.get("bands", [])):
            for part in ("name", "min_score", "ceiling"):
                initial[band_field(index, part)] = band.get(part)
        return cls(initial=initial, bands=len(rules.get("bands", [])))

    def band_rows(self) -> list[list[Any]]:
        return [
            [self[band_field(index, part)] for part in ("name", "min_score", "ceiling")]
            for index in range(self.band_count)
        ]

    def scalar_fields(self) -> list[Any]:
        return [self[name] for name in SCALARS]

    def rules(self) -> dict[str, Any]:
        """The thresholds as the policy parser reads them (whole numbers where it
        wants them; anything else stays text for it to name)."""
        data = self.cleaned_data
        rules: dict[str, Any] = {name: _number(name, data[name]) for name in SCALARS}
        rules["close_on_public_record"] = bool(data["close_on_public_record"])
        rules["overlay_rationale"] = data["overlay_rationale"]
        rules["bands"] = [
            {
                "name": data[band_field(index, "name")].strip(),
                "min_score": _whole(data[band_field(index, "min_score")]),
                "ceiling": data[band_field(index, "ceiling")].strip(),
            }
            for index in range(self.band_count)
        ]
        return rules

    def show_errors(self, errors: dict[str, str]) -> None:
        """Put the parser's messages on the fields they name."""
        for key, message in errors.items():
            if key.startswith("bands.") and key.count(".") == 2:
                _bands, index, part = key.split(".")
                field = band_field(int(index), part)
            elif key in self.fields:
                field = key
            else:
                field = None
            if field is None:
                label = _("Score bands") if key.startswith("bands") else key
                self.add_error(None, f"{label}: {message}")
            else:
                self.add_error(field, message)


def _whole(raw: str) -> Any:
    text = raw.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _number(name: str, raw: str) -> Any:
    return _whole(raw) if name in INTEGERS else raw.strip()
