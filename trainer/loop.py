"""The training loop: `train(config, split, on_epoch=None) -> History`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from trainer.config import EpochResult, History, TrainConfig
from trainer.layers import softmax
from trainer.networks import Network, build_network
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
    it may raise (e.g. to prune the trial), and the exception propagates unchanged.

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
    x_train = np.ascontiguousarray(split.x_train, dtype=dtype)
    t_train = split.t_train
    # Train and validation are scored together: one forward pass of larger matrices.
    x_score = np.concatenate([x_train, np.asarray(split.x_val, dtype=dtype)])
    t_score = np.concatenate([t_train, split.t_val])
    n_train, batch = len(x_train), config.batch_size
    history = History()
    with np.errstate(all="ignore"):
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
                np.asarray(split.x_test, dtype=dtype), split.t_test
            )[1]
    history.seconds = time.perf_counter() - started
    return history


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
        if not math.isfinite(network.gradient_step(x[index], labels[index])):
            return False
        optimizer.update(network.params, network.grads)
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
