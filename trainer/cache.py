"""The parse cache: a named data set's arrays kept as a small .npz, read back bit for bit."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trainer.idx import Arrays

# Bump when the cache layout changes, so that old caches are rebuilt instead of misread.
_CACHE_VERSION = 1


def read_cache(path: Path, max_value: int) -> Arrays | None:
    """Read arrays that `write_cache` stored, or None if the cache is missing or unusable."""
    with contextlib.suppress(OSError, ValueError, KeyError, EOFError), np.load(path) as npz:
        if int(npz["version"]) != _CACHE_VERSION or int(npz["max_value"]) != max_value:
            return None
        arrays = {key: npz[key] for key in Arrays._fields if key in npz.files}
        for key in ("images", "test_images"):
            if key in arrays:
                arrays[key] = arrays[key].astype(np.float32) / np.float32(max_value)
        return Arrays(**arrays)
    return None


def write_cache(path: Path, arrays: Arrays, max_value: int) -> None:
    """Cache parsed arrays as .npz, atomically (temp file + rename) for concurrent workers.

    Images are stored as whole-number pixels (images * max_value) in uint8, a quarter of
    float32's size; `read_cache` divides them again, which reproduces them bit for bit.
    """
    stored: dict[str, Any] = {
        "version": np.int64(_CACHE_VERSION),
        "max_value": np.int64(max_value),
    }
    for key, value in arrays._asdict().items():
        if value is not None and key.endswith("images"):
            stored[key] = np.rint(value * max_value).astype(np.uint8)
        elif value is not None:
            stored[key] = value
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            tmp_path = Path(tmp.name)
            np.savez(tmp, **stored)
        tmp_path.chmod(0o644)  # NamedTemporaryFile makes it private; the cache may be shared
        os.replace(tmp_path, path)
    except OSError:
        # The cache only saves time: a read-only or full disk must not stop training.
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
