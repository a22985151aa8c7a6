"""Tests of trainer.loop.train: reproducibility, divergence as data, the epoch callback, the test
score and dtypes, on small real (digits) and synthetic splits."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import trainer
from trainer import loop
from trainer.config import EpochResult, History, TrainConfig
from trainer.data import Split
from trainer.networks import Network

SMALL = TrainConfig(hidden_sizes=(30, 30), epochs=4, batch_size=50, lr=0.05)


@pytest.fixture(autouse=True)
def one_blas_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits() -> Split:
    """300 of scikit-learn's 8x8 digits: 240 train, 60 validation, 359 test."""
    return trainer.split(trainer.load_dataset("digits"), n_samples=300, val_fraction=0.2, seed=0)


def blobs(
    n_train: int = 60, n_val: int = 30, *, image_shape: tuple[int, int, int] = (1, 2, 3),
    n_classes: int = 3, seed: int = 0,
) -> Split:  # fmt: skip
    """A synthetic split: each class a Gaussian blob around its own random centre."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, *image_shape))

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n, dtype=np.int64) % n_classes
        x = centres[labels] + 0.3 * rng.standard_normal((n, *image_shape))
        return np.ascontiguousarray(x, dtype=np.float32), labels

    return Split(*part(n_train), *part(n_val), *part(n_val), image_shape, n_classes)


def assert_same_history(a: History, b: History) -> None:
    """Equal in every field but wall time; floats compared with ==, bit for bit."""
    assert a.epochs == b.epochs  # EpochResult is a dataclass: field-wise ==
    first, second = a.to_dict(), b.to_dict()
    del first["seconds"], second["seconds"]
    assert first == second


def record_networks(monkeypatch: pytest.MonkeyPatch) -> list[Network]:
    """Make `train` hand over the networks it builds (the real `build_network`, recorded)."""
    built: list[Network] = []
    real = loop.build_network

    def recording(*args: object, **kwargs: object) -> Network:
        network = real(*args, **kwargs)  # type: ignore[arg-type]
        built.append(network)
        return network

    monkeypatch.setattr(loop, "build_network", recording)
    return built


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        replace(SMALL, optimizer="adam", lr=1e-3, batch_norm=True, dropout_rate=0.3),
        replace(SMALL, optimizer="nesterov", weight_decay=1e-3, weight_decay_kind="l1"),
        replace(SMALL, model="convnet", hidden_sizes=(20,), conv_filters=4, conv_kernel=3),
    ],
    ids=["sgd", "adam-batchnorm-dropout", "nesterov-l1", "convnet"],
)
def test_same_config_and_split_give_identical_history(config: TrainConfig, digits: Split) -> None:
    first, second = trainer.train(config, digits), trainer.train(config, digits)
    assert len(first.epochs) == config.epochs and not first.diverged
    assert_same_history(first, second)


def test_seed_changes_the_history(digits: Split) -> None:
    base = trainer.train(SMALL, digits)
    other_seed = trainer.train(replace(SMALL, seed=1), digits)
    assert base.curve("train_loss") != other_seed.curve("train_loss")
    other_split = trainer.split(
        trainer.load_dataset("digits"), n_samples=300, val_fraction=0.2, seed=1
    )
    assert base.curve("train_loss") != trainer.train(SMALL, other_split).curve("train_loss")


def test_fewer_epochs_give_a_prefix_of_the_history(digits: Split) -> None:
    long = trainer.train(replace(SMALL, epochs=5), digits)
    short = trainer.train(replace(SMALL, epochs=2), digits)
    assert short.epochs == long.epochs[:2]


def test_history_fields(digits: Split) -> None:
    history = trainer.train(SMALL, digits)
    assert [result.epoch for result in history.epochs] == [1, 2, 3, 4]
    assert history.val_accuracy == history.epochs[-1].val_accuracy
    assert history.test_accuracy is None and history.diverged_at_epoch is None
    assert history.seconds > 0
    for result in history.epochs:
        assert 0 <= result.train_accuracy <= 1 and 0 <= result.val_accuracy <= 1
        assert math.isfinite(result.train_loss) and math.isfinite(result.val_loss)
    # SGD on a 30-30 ReLU net learns something in 4 epochs of 240 digits.
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss


def test_skipping_always_zero_inputs_changes_only_the_order_of_sums(
    digits: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Digits' corner pixels are blank in every training image: the trainer skips them."""
    assert not digits.x_train.reshape(len(digits.x_train), -1).any(axis=0).all()
    config = replace(SMALL, weight_decay=0.01, dtype="float64", epochs=6)
    skipped = trainer.train(config, digits, score_test=True)
    monkeypatch.setattr(loop, "zero_inputs_last", lambda network, x: nullcontext())
    full = trainer.train(config, digits, score_test=True)
    assert skipped.test_accuracy == full.test_accuracy
    for a, b in zip(skipped.epochs, full.epochs, strict=True):
        assert (a.train_accuracy, a.val_accuracy) == (b.train_accuracy, b.val_accuracy)
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-10)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-10)


def test_epoch_results_score_the_network_in_inference_mode(
    digits: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = record_networks(monkeypatch)
    config = replace(SMALL, batch_norm=True, dropout_rate=0.2, weight_decay=0.01, dtype="float64")
    last = trainer.train(config, digits).epochs[-1]
    (network,) = built
    train_loss, train_accuracy = network.evaluate(
        digits.x_train.astype(np.float64), digits.t_train
    )
    val_loss, val_accuracy = network.evaluate(digits.x_val.astype(np.float64), digits.t_val)
    assert network.penalty() > 0  # the losses include it
    assert last.train_loss == pytest.approx(train_loss, rel=1e-9)
    assert last.val_loss == pytest.approx(val_loss, rel=1e-9)
    assert (last.train_accuracy, last.val_accuracy) == (train_accuracy, val_accuracy)


DIVERGING = [
    pytest.param(replace(SMALL, hidden_sizes=TrainConfig().hidden_sizes, lr=1e4), id="sgd-1e4"),
    pytest.param(replace(SMALL, hidden_sizes=TrainConfig().hidden_sizes, lr=1e6), id="sgd-1e6"),
    pytest.param(
        replace(SMALL, hidden_sizes=TrainConfig().hidden_sizes, optimizer="adam", lr=1e6),
        id="adam-1e6",
    ),
    pytest.param(
        replace(SMALL, hidden_sizes=TrainConfig().hidden_sizes, lr=1e6, batch_norm=True),
        id="batchnorm-1e6",
    ),
    # lr·λ = 2.5: L2 decay alone multiplies the weights by -1.5 per step, overflowing in epoch 3.
    pytest.param(
        replace(SMALL, hidden_sizes=(20, 20), epochs=10, batch_size=100, lr=0.1, weight_decay=25),
        id="late-weight-decay",
    ),
]


@pytest.mark.parametrize("config", DIVERGING)
def test_divergence_is_data_without_warnings(config: TrainConfig, digits: Split) -> None:
    seen: list[EpochResult] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record every warning, RuntimeWarnings included
        history = trainer.train(config, digits, seen.append, score_test=True)
    assert [str(w.message) for w in caught] == []
    assert history.diverged
    assert history.diverged_at_epoch == len(history.epochs) + 1
    assert history.epochs == seen  # the callback saw exactly the finished epochs
    assert all(math.isfinite(result.train_loss) for result in history.epochs)
    assert history.val_accuracy == 0.0 and history.test_accuracy is None
    assert history.to_dict()["diverged_at_epoch"] == history.diverged_at_epoch


def test_divergence_after_some_epochs_keeps_them(digits: Split) -> None:
    config = DIVERGING[-1].values[0]
    assert isinstance(config, TrainConfig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail the run
        history = trainer.train(config, digits)
    assert history.diverged_at_epoch == 3 and len(history.epochs) == 2
    # The same run stopped just before is not diverged and has the same epochs.
    before = trainer.train(replace(config, epochs=2), digits)
    assert not before.diverged and before.epochs == history.epochs


def test_on_epoch_is_called_once_per_epoch(digits: Split) -> None:
    seen: list[EpochResult] = []
    history = trainer.train(SMALL, digits, on_epoch=seen.append)
    assert len(seen) == SMALL.epochs
    assert all(type(result) is EpochResult for result in seen)
    assert seen == history.epochs and [r.epoch for r in seen] == [1, 2, 3, 4]


class Pruned(Exception):
    """Stands in for optuna.TrialPruned, which trainer must not import."""


def test_an_exception_from_on_epoch_propagates(digits: Split) -> None:
    seen: list[int] = []

    def prune_at_second_epoch(result: EpochResult) -> None:
        seen.append(result.epoch)
        if result.epoch == 2:
            raise Pruned(f"pruned at {result.epoch}")

    with pytest.raises(Pruned, match="pruned at 2"):
        trainer.train(SMALL, digits, on_epoch=prune_at_second_epoch)
    assert seen == [1, 2]  # training stopped at once


def test_score_test_sets_test_accuracy(digits: Split) -> None:
    plain = trainer.train(SMALL, digits)
    scored = trainer.train(SMALL, digits, score_test=True)
    assert plain.test_accuracy is None
    assert scored.test_accuracy is not None and 0.2 < scored.test_accuracy <= 1
    assert scored.epochs == plain.epochs  # scoring the test split changes nothing else
    assert scored.to_dict()["test_accuracy"] == scored.test_accuracy


@pytest.mark.parametrize(
    "optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
)
def test_float32_config_keeps_params_float32(
    optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = record_networks(monkeypatch)
    config = TrainConfig(
        hidden_sizes=(8, 8), batch_norm=True, dropout_rate=0.2, weight_decay=1e-3,
        weight_decay_kind="l1", optimizer=optimizer, lr=1e-3, epochs=2, batch_size=16,
    )  # fmt: skip
    history = trainer.train(config, blobs(), score_test=True)
    assert not history.diverged
    (network,) = built
    assert {p.dtype for p in network.params} == {np.dtype(np.float32)}
    assert {g.dtype for g in network.grads} == {np.dtype(np.float32)}
    for layer in network.layers:  # BatchNorm's running statistics too
        for name in ("running_mean", "running_var"):
            if hasattr(layer, name):
                assert getattr(layer, name).dtype == np.float32
    assert all(type(value) is float for value in history.to_dict()["train_loss"])


def test_float32_convnet_and_float64_config(monkeypatch: pytest.MonkeyPatch) -> None:
    built = record_networks(monkeypatch)
    split = blobs(image_shape=(1, 6, 6))
    convnet = TrainConfig(model="convnet", hidden_sizes=(10,), conv_filters=3, conv_kernel=3,
                          epochs=2, batch_size=20)  # fmt: skip
    trainer.train(convnet, split)
    trainer.train(replace(convnet, dtype="float64"), split)
    assert [{p.dtype for p in network.params} for network in built] == [
        {np.dtype(np.float32)}, {np.dtype(np.float64)},
    ]  # fmt: skip


def test_learns_separable_blobs() -> None:
    config = TrainConfig(hidden_sizes=(16,), optimizer="adam", lr=0.01, epochs=20, batch_size=20)
    history = trainer.train(config, blobs(n_train=120, n_val=60, seed=3))
    assert history.val_accuracy == 1.0
    assert history.epochs[-1].train_loss < 0.1 < history.epochs[0].train_loss
