"""How a scored chunk is kept between computing and applying: its numpy arrays in a
compressed .npz blob on the chunk row (docs/architecture.md, "Runs")."""

from __future__ import annotations

import io
import zipfile

import numpy as np


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive as `np.savez_compressed` writes it, at zlib's fastest level:
    the default level took a quarter of an incremental chunk's time for a blob read
    once."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(
        buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
    ) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def chunk_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob)) as archive:
        return {name: archive[name] for name in archive.files}
