"""Networks: a stack of layers ending in SoftmaxWithLoss, with L2 or L1 weight decay.

`MultiLayerNet` is the book's MultiLayerNetExtend (affine, optional BatchNorm, activation,
optional dropout per hidden layer); `SimpleConvNet` is its 7.5 network
(conv - ReLU - pool - affine - ReLU - affine).
"""

from __future__ import annotations

import numpy as np

from trainer.config import TrainConfig
from trainer.conv import Convolution, Pooling, output_size
from trainer.init import gaussian_weights
from trainer.layers import (
    Affine,
    BatchNorm,
    Dropout,
    Layer,
    ReLU,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    cross_entropy,
    softmax,
)

Array = np.ndarray
ACTIVATION_LAYERS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class Network:
    """Layers, a softmax-cross-entropy head and a weight penalty on the decayed params."""

    def __init__(self, layers: list[Layer], *, weight_decay: float, weight_decay_kind: str):
        self.layers = layers
        self.head = SoftmaxWithLoss()
        self.weight_decay, self.weight_decay_kind = weight_decay, weight_decay_kind
        self.params = [p for layer in layers for p in layer.params]
        self.grads = [g for layer in layers for g in layer.grads]
        self.decayed = [
            (p, g)
            for layer in layers
            for p, g, decay in zip(layer.params, layer.grads, layer.decay, strict=True)
            if decay
        ]

    def scores(self, x: Array, *, train: bool) -> Array:
        """Class scores (N, classes) before the softmax."""
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return x

    def penalty(self) -> float:
        """0.5·λ·ΣW² (L2) or λ·Σ|W| (L1) over the weights."""
        if self.weight_decay == 0.0:
            return 0.0
        if self.weight_decay_kind == "l2":
            total = sum(float(np.sum(p * p)) for p, _ in self.decayed)
            return 0.5 * self.weight_decay * total
        return self.weight_decay * sum(float(np.sum(np.abs(p))) for p, _ in self.decayed)

    def loss(self, x: Array, labels: Array, *, train: bool) -> float:
        """Mean cross-entropy on (x, labels) plus the weight penalty."""
        return self.head.forward(self.scores(x, train=train), labels) + self.penalty()

    def gradient_step(self, x: Array, labels: Array) -> float:
        """Forward and backward in training mode, filling `grads`.

        Returns the data loss without the penalty: the caller needs only its finiteness per
        step, and the penalty costs a pass over every weight.
        """
        data_loss = self.head.forward(self.scores(x, train=True), labels)
        dout = self.head.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        if self.weight_decay:
            for p, g in self.decayed:
                g += self.weight_decay * (p if self.weight_decay_kind == "l2" else np.sign(p))
        return data_loss

    def evaluate(self, x: Array, labels: Array) -> tuple[float, float]:
        """(loss, accuracy) in inference mode, the loss including the penalty."""
        probabilities = softmax(self.scores(x, train=False))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
        return cross_entropy(probabilities, labels) + self.penalty(), accuracy


def build_network(
    config: TrainConfig,
    input_shape: tuple[int, ...],
    n_classes: int,
    rng: np.random.Generator,
) -> Network:
    """The network `config.model` names, for inputs of `input_shape` (without the batch axis)."""
    if config.model == "convnet":
        return simple_conv_net(config, input_shape, n_classes, rng)
    return multi_layer_net(config, int(np.prod(input_shape)), n_classes, rng)


def _affine(
    fan_in: int,
    fan_out: int,
    config: TrainConfig,
    rng: np.random.Generator,
    *,
    input_grad: bool = True,
) -> Affine:
    dtype = np.dtype(config.dtype)
    weight = gaussian_weights(
        (fan_in, fan_out), fan_in, init=config.init, init_std=config.init_std, rng=rng, dtype=dtype
    )
    return Affine(weight, np.zeros(fan_out, dtype=dtype), input_grad=input_grad)


def multi_layer_net(
    config: TrainConfig, input_size: int, n_classes: int, rng: np.random.Generator
) -> Network:
    """input - [affine - (batchnorm) - activation - (dropout)] × hidden - affine - softmax."""
    layers: list[Layer] = []
    fan_in = input_size
    for index, width in enumerate(config.hidden_sizes):
        layers.append(_affine(fan_in, width, config, rng, input_grad=index > 0))
        if config.batch_norm:
            layers.append(BatchNorm(width, dtype=np.dtype(config.dtype)))
        layers.append(ACTIVATION_LAYERS[config.activation]())
        if config.dropout_rate > 0:
            layers.append(Dropout(config.dropout_rate, rng))
        fan_in = width
    layers.append(_affine(fan_in, n_classes, config, rng))
    return Network(
        layers, weight_decay=config.weight_decay, weight_decay_kind=config.weight_decay_kind
    )


def simple_conv_net(
    config: TrainConfig, input_shape: tuple[int, ...], n_classes: int, rng: np.random.Generator
) -> Network:
    """conv - ReLU - max pool - affine - ReLU - affine - softmax, for (C, H, W) inputs."""
    if len(input_shape) != 3:
        raise ValueError(f"convnet needs (channels, height, width) inputs, got {input_shape}")
    channels, height, width = input_shape
    k, filters, dtype = config.conv_kernel, config.conv_filters, np.dtype(config.dtype)
    conv_h = output_size(height, k, config.conv_stride, config.conv_pad)
    conv_w = output_size(width, k, config.conv_stride, config.conv_pad)
    if conv_h < config.pool_size or conv_w < config.pool_size:
        raise ValueError(
            f"conv_kernel {k} and pool_size {config.pool_size} do not fit {height}×{width} inputs"
        )
    fan_in = channels * k * k
    weight = gaussian_weights(
        (filters, channels, k, k),
        fan_in,
        init=config.init,
        init_std=config.init_std,
        rng=rng,
        dtype=dtype,
    )
    pooled = filters * (conv_h // config.pool_size) * (conv_w // config.pool_size)
    hidden = config.hidden_sizes[0]
    layers: list[Layer] = [
        Convolution(
            weight,
            np.zeros(filters, dtype=dtype),
            stride=config.conv_stride,
            pad=config.conv_pad,
            input_grad=False,
        ),
        ReLU(),
        Pooling(config.pool_size, config.pool_size),
        _affine(pooled, hidden, config, rng),
        ReLU(),
        _affine(hidden, n_classes, config, rng),
    ]
    return Network(
        layers, weight_decay=config.weight_decay, weight_decay_kind=config.weight_decay_kind
    )
