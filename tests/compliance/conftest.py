from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pack_root(settings, tmp_path, monkeypatch):
    """Each test keeps its packs in a directory of its own, in this process and in the
    workers it starts (they read the environment)."""
    root = tmp_path / "evidence-packs"
    settings.EVIDENCE_PACK_ROOT = root
    monkeypatch.setenv("EVIDENCE_PACK_ROOT", str(root))
    return root
