"""The training loop: `train(config, split, on_epoch=None) -> History`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from trainer.config import EpochResult, History, TrainConfig
from trainer.layers import softmax
from trainer.networks import Network, build_network, zero_inputs_last
from trainer.optimizers import Optimizer, make_optimizer

if TYPE_CHECKING:
    from trainer.data import Split

# Cross-entropy with the book's 1e-7 guard is at most -ln(1e-7) ≈ 16; a loss past this bound
# means the weight penalty has exploded with the weights: the run cannot recover.
DIVERGED_LOSS = 1e6

EpochCallback = Callable[[EpochResult], None]


def train(
    config: TrainConfig,
    split: Split,
    on_epoch: EpochCallback | None = None,
    *,
    score_test: bool = False,
) -> History:
    """Train a fresh network on `split.x_train` for `config.epochs` epochs.

    Each epoch visits the training split once in a new random order, in minibatches of
    `config.batch_size`. After each epoch the network is scored in inference mode on the train
    and validation splits (one forward pass over both) and `on_epoch` is called with the result;
    it may raise (e.g. to prune the trial), and the exception propagates unchanged. Input
    features that are zero in every training row are left out of the training products
    (`zero_inputs_last`): the same numbers, up to the order of sums.

    A NaN or infinite loss stops training at once, and an epoch loss above DIVERGED_LOSS (the
    weights blew up) at the end of that epoch: the history is marked `diverged` and returned;
    no exception, no floating-point warnings. The same config and split give the same history,
    bit for bit: every random draw comes from one Generator seeded by `config.seed`.

    Args:
        score_test: after the last epoch, also score the test split into `test_accuracy`.
            Only the final evaluation of a search should set it.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    network = build_network(config, split.image_shape, split.n_classes, rng)
    optimizer = make_optimizer(
        config.optimizer,
        lr=config.lr,
        momentum=config.momentum,
        rmsprop_decay=config.rmsprop_decay,
        beta1=config.beta1,
        beta2=config.beta2,
    )
    history = History()
    n_train, batch = len(split.t_train), config.batch_size
    skipping = zero_inputs_last(network, np.asarray(split.x_train))
    with skipping as skipped, np.errstate(all="ignore"):
        # Train and validation are scored together: one forward pass of larger matrices.
        x_score = np.concatenate(
            [_ordered(x, dtype, skipped) for x in (split.x_train, split.x_val)]
        )
        t_train, t_score = split.t_train, np.concatenate([split.t_train, split.t_val])
        x_train = x_score[:n_train]
        if skipped is not None:  # training multiplies only the live features
            x_train = np.ascontiguousarray(x_train[:, : skipped[1]])
        for epoch in range(1, config.epochs + 1):
            finite = _train_epoch(network, optimizer, x_train, t_train, batch, rng)
            result = _score(network, x_score, t_score, n_train, epoch) if finite else None
            if result is None or not result.train_loss < DIVERGED_LOSS:  # NaN fails too
                history.diverged, history.diverged_at_epoch = True, epoch
                break
            history.epochs.append(result)
            if on_epoch is not None:
                on_epoch(result)
        if score_test and not history.diverged:
            history.test_accuracy = network.evaluate(
                _ordered(split.x_test, dtype, skipped), split.t_test
            )[1]
    history.seconds = time.perf_counter() - started
    return history


def _ordered(x: np.ndarray, dtype: np.dtype, skipped: tuple[np.ndarray, int] | None) -> np.ndarray:
    """`x` in `dtype`, its features in the order `zero_inputs_last` gave (`skipped`)."""
    x = np.asarray(x, dtype=dtype)
    return x if skipped is None else x.reshape(len(x), -1)[:, skipped[0]]


def _train_epoch(
    network: Network,
    optimizer: Optimizer,
    x: np.ndarray,
    labels: np.ndarray,
    batch: int,
    rng: np.random.Generator,
) -> bool:
    """One pass over (x, labels) in a new random order; False as soon as a loss is not finite."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch):
        index = order[start : start + batch]
        if not network.gradient_step(x[index], labels[index]):
            return False
        optimizer.update([network.flat_params], [network.flat_grads])
    return True


def _score(
    network: Network, x: np.ndarray, labels: np.ndarray, n_train: int, epoch: int
) -> EpochResult:
    """Losses and accuracies of the first `n_train` rows (train) and the rest (validation)."""
    probabilities = softmax(network.scores(x, train=False))
    correct = np.argmax(probabilities, axis=1) == labels
    picked = -np.log(probabilities[np.arange(len(labels)), labels] + 1e-7)
    penalty = network.penalty()
    return EpochResult(
        epoch=epoch,
        train_loss=float(np.mean(picked[:n_train])) + penalty,
        train_accuracy=float(np.mean(correct[:n_train])),
        val_loss=float(np.mean(picked[n_train:])) + penalty,
        val_accuracy=float(np.mean(correct[n_train:])),
    )
