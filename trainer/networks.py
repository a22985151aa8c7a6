"""Networks: a stack of layers ending in SoftmaxWithLoss, with L2 or L1 weight decay.

`MultiLayerNet` is the book's MultiLayerNetExtend (affine, optional BatchNorm, activation,
optional dropout per hidden layer); `SimpleConvNet` is its 7.5 network
(conv - ReLU - pool - affine - ReLU - affine).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
    """Layers, a softmax-cross-entropy head and a weight penalty on the decayed params.

    Every parameter is a view into one flat array (`flat_params`, weights first, then biases
    and BatchNorm's gamma and beta), and so is every gradient (`flat_grads`): an optimizer
    updates them all in one call, and the penalty reads the weights in one. `params`, `grads`
    and `decayed` list the same views per layer.
    """

    def __init__(self, layers: list[Layer], *, weight_decay: float, weight_decay_kind: str):
        self.layers = layers
        self.head = SoftmaxWithLoss()
        self.weight_decay, self.weight_decay_kind = weight_decay, weight_decay_kind
        self.flat_params, self.flat_grads = _bind_flat(layers)
        self.params = [p for layer in layers for p in layer.params]
        self.grads = [g for layer in layers for g in layer.grads]
        self.decayed = [
            (p, g)
            for layer in layers
            for p, g, decay in zip(layer.params, layer.grads, layer.decay, strict=True)
            if decay
        ]
        n_decayed = sum(p.size for p, _ in self.decayed)
        self.decayed_params = self.flat_params[:n_decayed]
        self.decayed_grads = self.flat_grads[:n_decayed]

    def scores(self, x: Array, *, train: bool) -> Array:
        """Class scores (N, classes) before the softmax."""
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return x

    def layer_outputs(self, x: Array, *, train: bool = False) -> list[Array]:
        """The output of every layer in one forward pass, in layer order (the last is the
        class scores): what `scores` computes, kept layer by layer."""
        outputs = []
        for layer in self.layers:
            x = layer.forward(x, train=train)
            outputs.append(x)
        return outputs

    def penalty(self) -> float:
        """0.5·λ·ΣW² (L2) or λ·Σ|W| (L1) over the weights."""
        if self.weight_decay == 0.0:
            return 0.0
        weights = self.decayed_params
        if self.weight_decay_kind == "l2":
            return 0.5 * self.weight_decay * float(np.dot(weights, weights))
        return self.weight_decay * float(np.sum(np.abs(weights)))

    def loss(self, x: Array, labels: Array, *, train: bool) -> float:
        """Mean cross-entropy on (x, labels) plus the weight penalty."""
        return self.head.forward(self.scores(x, train=train), labels) + self.penalty()

    def gradient_step(self, x: Array, labels: Array) -> bool:
        """Forward and backward in training mode, filling `grads`.

        Returns False, leaving `grads` as they were, where the loss is not finite (a score
        overflowed): the training has diverged. The loss itself is not computed.
        """
        dout = self.head.gradient(self.scores(x, train=True), labels)
        if dout is None:
            return False
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        if self.weight_decay:
            weights = self.decayed_params
            l2 = self.weight_decay_kind == "l2"
            self.decayed_grads += self.weight_decay * (weights if l2 else np.sign(weights))
        return True

    def evaluate(self, x: Array, labels: Array) -> tuple[float, float]:
        """(loss, accuracy) in inference mode, the loss including the penalty."""
        probabilities = softmax(self.scores(x, train=False))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
        return cross_entropy(probabilities, labels) + self.penalty(), accuracy


def _bind_flat(layers: list[Layer]) -> tuple[Array, Array]:
    """Two flat arrays, parameters and gradients, that every layer's now are views into:
    the decayed parameters (weights) first, in layer order, then the others."""
    slots = [(layer, i) for layer in layers for i in range(len(layer.params))]
    slots.sort(key=lambda slot: not slot[0].decay[slot[1]])  # a stable sort
    starts, total = {}, 0
    for layer, i in slots:
        starts[id(layer), i] = total
        total += layer.params[i].size
    dtype = np.result_type(*(layer.params[i] for layer, i in slots))
    flat_params, flat_grads = np.empty(total, dtype=dtype), np.zeros(total, dtype=dtype)

    def views(flat: Array, layer: Layer) -> list[Array]:
        return [
            flat[starts[id(layer), i] : starts[id(layer), i] + p.size].reshape(p.shape)
            for i, p in enumerate(layer.params)
        ]

    for layer in layers:
        layer.bind(views(flat_params, layer), views(flat_grads, layer))
    return flat_params, flat_grads


@contextmanager
def zero_inputs_last(network: Network, x_train: Array) -> Iterator[tuple[Array, int] | None]:
    """Within the block, the input features that are zero in every training row come last
    and training skips them.

    MNIST's border pixels are blank in every image: on the book's 400 training images 210 of
    784 are, a quarter of the first layer's work. A permutation of the inputs (the first
    layer's rows permuted alike) changes nothing but the order of sums; training then feeds
    only the live features, and the first layer's dW for the others is exactly 0, as it would
    be in full. Yields the column order for every input array (train, validation, test) and
    the count of live features, or None where nothing is skipped (no such feature, or a
    first layer that is not an Affine on the data). The network is back in the data's order
    after the block.
    """
    first = network.layers[0]
    live = x_train.reshape(len(x_train), -1).any(axis=0)
    if not isinstance(first, Affine) or first.input_grad or live.all():
        yield None
        return
    order = np.argsort(~live, kind="stable")
    first.W[...] = first.W[order]
    first.live_inputs = int(live.sum())
    try:
        yield order, first.live_inputs
    finally:
        first.W[order] = first.W.copy()
        first.live_inputs = len(first.W)


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


def hidden_activations(
    config: TrainConfig, x: Array, n_classes: int = 10, *, train: bool = False
) -> list[Array]:
    """The output of each hidden activation layer (ReLU, sigmoid, tanh) for inputs `x`
    (N, features) or (N, C, H, W), in a network freshly initialised as `train(config)`
    initialises it (the same seed): the book's Figs. 6-10 to 6-14 are histograms of these.
    """
    network = build_network(config, x.shape[1:], n_classes, np.random.default_rng(config.seed))
    outputs = network.layer_outputs(x.astype(config.dtype), train=train)
    kinds = tuple(ACTIVATION_LAYERS.values())
    return [
        out for layer, out in zip(network.layers, outputs, strict=True) if isinstance(layer, kinds)
    ]
