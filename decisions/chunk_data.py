"""How a scored chunk is kept between computing and applying: its numpy arrays in a
compressed .npz blob on the chunk row (docs/architecture.md, "Runs")."""

from __future__ import annotations

import io

import numpy as np


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def chunk_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob)) as archive:
        return {name: archive[name] for name in archive.files}
