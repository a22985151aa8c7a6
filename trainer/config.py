"""The trainer's inputs and outputs: `TrainConfig`, `EpochResult`, `History`."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from typing import Any

MODELS = ("mlp", "convnet")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
INITS = ("std", "xavier", "he")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
WEIGHT_DECAY_KINDS = ("l2", "l1")
DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A `TrainConfig` field has a value the trainer cannot use."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides one training run; the same config gives the same `History`.

    Attributes:
        model: "mlp" (MultiLayerNet) or "convnet" (SimpleConvNet: conv-ReLU-pool-affine-ReLU-
            affine).
        hidden_sizes: widths of the hidden affine layers of the mlp; the convnet uses the first.
        activation: hidden activation of the mlp ("relu", "sigmoid", "tanh").
        init: weight initialisation: "std" (Gaussian with `init_std`), "xavier" or "he".
        init_std: standard deviation for `init = "std"`; ignored otherwise.
        batch_norm: insert BatchNorm after every hidden affine layer of the mlp.
        dropout_rate: fraction of hidden units dropped during training (0 = no dropout layers).
        weight_decay: lambda of the weight penalty on weights (never biases).
        weight_decay_kind: "l2" (0.5·λ·ΣW², gradient λW) or "l1" (λ·Σ|W|, gradient λ·sign W).
        optimizer: "sgd", "momentum", "nesterov", "adagrad", "rmsprop" or "adam".
        lr: learning rate.
        momentum: momentum coefficient of "momentum" and "nesterov".
        rmsprop_decay: decay rate of the squared-gradient average of "rmsprop".
        beta1, beta2: Adam's moment decay rates.
        epochs: passes over the training split.
        batch_size: minibatch size (the last batch of an epoch may be smaller).
        conv_filters, conv_kernel, conv_stride, conv_pad, pool_size: convnet geometry.
        seed: seeds initialisation, shuffling and dropout masks (one Generator per run).
        dtype: "float32" for training; "float64" for gradient checks and comparisons.
    """

    model: str = "mlp"
    hidden_sizes: tuple[int, ...] = (100, 100, 100, 100, 100, 100)
    activation: str = "relu"
    init: str = "he"
    init_std: float = 0.01
    batch_norm: bool = False
    dropout_rate: float = 0.0
    weight_decay: float = 0.0
    weight_decay_kind: str = "l2"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    rmsprop_decay: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    epochs: int = 50
    batch_size: int = 100
    conv_filters: int = 30
    conv_kernel: int = 5
    conv_stride: int = 1
    conv_pad: int = 0
    pool_size: int = 2
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        _check_choice("model", self.model, MODELS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("init", self.init, INITS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("weight_decay_kind", self.weight_decay_kind, WEIGHT_DECAY_KINDS)
        _check_choice("dtype", self.dtype, DTYPES)
        if not self.hidden_sizes or any(
            not isinstance(size, int) or size < 1 for size in self.hidden_sizes
        ):
            raise ConfigError("hidden_sizes", "give a non-empty list of positive integers")
        for name, least in INT_LEAST.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                kind = "a non-negative" if least == 0 else "a positive"
                raise ConfigError(name, f"must be {kind} integer, got {value!r}")
        if not isinstance(self.batch_norm, bool):
            raise ConfigError("batch_norm", f"must be true or false, got {self.batch_norm!r}")
        for name, (low, high) in FLOAT_DOMAINS.items():
            _check_range(name, getattr(self, name), low=low, high=high, low_open=name in OPEN_LOW)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @staticmethod
    def domain(name: str) -> tuple[float, float | None]:
        """The values a numeric field may take: (least, bound), bound excluded (None: no upper
        bound); the least excluded too for the fields of OPEN_LOW (lr, init_std)."""
        if name in FLOAT_DOMAINS:
            return FLOAT_DOMAINS[name]
        return INT_LEAST.get(name, -math.inf), None


# The numeric fields' domains, as __post_init__ checks them: (least, bound excluded), and
# the least value of each integer field.
INT_LEAST = {
    **dict.fromkeys(("epochs", "batch_size", "conv_filters", "conv_kernel", "conv_stride"), 1),
    "pool_size": 1,
    "conv_pad": 0,
}
FLOAT_DOMAINS: dict[str, tuple[float, float | None]] = {
    "lr": (0.0, None),
    "init_std": (0.0, None),
    "weight_decay": (0.0, None),
    "dropout_rate": (0.0, 1.0),
    **{name: (0.0, 1.0) for name in ("momentum", "rmsprop_decay", "beta1", "beta2")},
}
OPEN_LOW = ("lr", "init_std")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        near = [c for c in choices if c.lower() == str(value).lower()]
        near = near or difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"choose one of {', '.join(choices)}"
        raise ConfigError(name, f"unknown value {value!r}; {hint}")


def _check_range(
    name: str, value: object, *, low: float, high: float | None = None, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number, got {value!r}")
    if value < low or (low_open and value == low):
        raise ConfigError(name, f"must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value >= high:
        raise ConfigError(name, f"must be < {high}, got {value!r}")


@dataclass(frozen=True)
class EpochResult:
    """Scores after one epoch, measured in inference mode (no dropout, BatchNorm running stats).

    Losses include the weight-decay penalty. Accuracies are fractions in [0, 1].
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass
class History:
    """What one training run produced.

    Attributes:
        epochs: one `EpochResult` per finished epoch, in order.
        diverged: the loss became NaN or infinite; training stopped at once.
        diverged_at_epoch: the epoch (1-based) in which it happened, else None.
        test_accuracy: accuracy on the test split, only when `train(..., score_test=True)`.
        seconds: wall time of the run.
    """

    epochs: list[EpochResult] = field(default_factory=list)
    diverged: bool = False
    diverged_at_epoch: int | None = None
    test_accuracy: float | None = None
    seconds: float = 0.0

    @property
    def val_accuracy(self) -> float:
        """The final validation accuracy, the score of the run (0.0 if it diverged)."""
        if self.diverged or not self.epochs:
            return 0.0
        return self.epochs[-1].val_accuracy

    def curve(self, name: str) -> list[float]:
        """One column of the per-epoch results, e.g. `curve("train_accuracy")`."""
        return [getattr(result, name) for result in self.epochs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_accuracy": self.curve("train_accuracy"),
            "val_accuracy": self.curve("val_accuracy"),
            "train_loss": self.curve("train_loss"),
            "val_loss": self.curve("val_loss"),
            "diverged": self.diverged,
            "diverged_at_epoch": self.diverged_at_epoch,
            "test_accuracy": self.test_accuracy,
            "seconds": self.seconds,
        }
