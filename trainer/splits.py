"""The stratified train/validation/test split of a `Dataset` into the `Split` training uses."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from trainer.data import Dataset, Split
from trainer.idx import DatasetError

# The held-out test part of a data set without an official test set is fixed (not drawn with
# the split's seed), like an official test set: no trial's training data is another's test data.
_TEST_SEED = 20_160_904


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
        raise DatasetError(
            f"val_fraction must be between 0 and 1; got {val_fraction}", "val_fraction"
        )
    x_test, t_test, pool = _test_part(data, test_fraction)
    n = len(pool) if n_samples is None else n_samples
    if not 0 < n <= len(pool):
        raise DatasetError(
            f"n_samples={n_samples} but {data.name} has {len(pool)} examples outside its test "
            f"part; ask for 1 to {len(pool)}",
            "n_samples",
        )
    n_val = math.floor(val_fraction * n + 0.5)  # half up (Python's round sends 2.5 to 2)
    if not 0 < n_val < n:
        raise DatasetError(
            f"n_samples={n} with val_fraction={val_fraction} leaves an empty training or "
            "validation part; use more samples or a fraction nearer 0.5",
            "n_samples",
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
        raise DatasetError(
            f"test_fraction must be between 0 and 1; got {test_fraction}", "test_fraction"
        )
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
