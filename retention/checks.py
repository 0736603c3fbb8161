"""The system check of the retention settings (docs/architecture.md, "Retention")."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error

from retention.selectors import configuration_problems


def retention_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(problem, hint="See the README, Retention.", id="retention.E001")
        for problem in configuration_problems()
    ]
