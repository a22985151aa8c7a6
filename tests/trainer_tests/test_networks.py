"""Tests of trainer.networks and trainer.init: whole networks against central-difference gradients
(float64), the weight penalty on weights only, layer structure, and initial weight scales."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.conv import Convolution, Pooling
from trainer.gradcheck import check_gradients, numerical_gradient, relative_error
from trainer.init import gaussian_weights, weight_std
from trainer.layers import Affine, BatchNorm, Dropout, ReLU, Sigmoid, Tanh, softmax
from trainer.networks import Network, build_network, multi_layer_net

# Whole networks end in SoftmaxWithLoss, whose loss takes log(p + 1e-7): its exact gradient
# differs from backprop's (p - t)/N by a relative ~1e-7/p for the true class's p. The checks
# keep every such p above 0.02 (asserted), so 1e-5 is an honest bound (measured 1e-8 to 1.5e-6).
NETWORK_TOLERANCE = 1e-5
MIN_TRUE_CLASS_PROBABILITY = 0.02


def fixed_masks(network: Network, x: np.ndarray, labels: np.ndarray) -> None:
    """Draw every Dropout mask once and keep it, so the loss is a fixed function of params."""
    network.loss(x, labels, train=True)
    for layer in network.layers:
        if isinstance(layer, Dropout):
            layer.reuse_mask = True


def gradient_pairs(
    network: Network, x: np.ndarray, labels: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(backprop, numerical) gradients of the training loss, penalty included, per param array."""
    true_p = softmax(network.scores(x, train=True))[np.arange(len(labels)), labels]
    assert true_p.min() > MIN_TRUE_CLASS_PROBABILITY  # see NETWORK_TOLERANCE

    def loss() -> float:
        return network.loss(x, labels, train=True)

    network.gradient_step(x, labels)
    backprop = [g.copy() for g in network.grads]
    return [
        (g, numerical_gradient(loss, p)) for p, g in zip(network.params, backprop, strict=True)
    ]


def keep_weights_off_zero(network: Network, margin: float = 1e-3) -> None:
    """|W| >= margin for every decayed weight: λ·|W| has a kink at 0."""
    for param, _ in network.decayed:
        param[np.abs(param) < margin] = margin


def perturb_non_weights(network: Network, rng: np.random.Generator) -> None:
    """Give biases, gamma and beta non-trivial values (they start at 0 or 1)."""
    for layer in network.layers:
        for param, decay in zip(layer.params, layer.decay, strict=True):
            if not decay:
                param += 0.3 * rng.standard_normal(param.shape)


@pytest.mark.parametrize("batch_norm", [True, False], ids=["batchnorm", "plain"])
@pytest.mark.parametrize("kind", ["l2", "l1"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_multi_layer_net_gradients(activation: str, kind: str, batch_norm: bool) -> None:
    config = TrainConfig(
        hidden_sizes=(6, 5), activation=activation, batch_norm=batch_norm, dropout_rate=0.3,
        weight_decay=0.1, weight_decay_kind=kind, dtype="float64",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    network = multi_layer_net(config, 7, 4, np.random.default_rng(1))
    assert all(p.dtype == np.float64 for p in network.params)
    perturb_non_weights(network, rng)
    keep_weights_off_zero(network)
    x, labels = rng.standard_normal((10, 7)), rng.integers(0, 4, size=10)
    fixed_masks(network, x, labels)
    pairs = gradient_pairs(network, x, labels)
    # W, b (and gamma, beta) of each hidden layer, then the output layer's W and b
    assert len(pairs) == (4 if batch_norm else 2) * 2 + 2
    # BatchNorm subtracts the batch mean, so the bias of the affine layer before it has no
    # effect: its gradient is 0 and only absolute agreement with 0 makes sense.
    hidden_biases = {1, 5} if batch_norm else set()
    for index, (backprop, numerical) in enumerate(pairs):
        if index in hidden_biases:
            assert np.abs(backprop).max() < 1e-12 and np.abs(numerical).max() < 1e-9
        else:
            assert relative_error(backprop, numerical) < NETWORK_TOLERANCE, index


@pytest.mark.parametrize(("stride", "pad", "kind"), [(1, 0, "l2"), (2, 1, "l1"), (1, 1, "l2")])
def test_simple_conv_net_gradients(stride: int, pad: int, kind: str) -> None:
    config = TrainConfig(
        model="convnet", hidden_sizes=(6,), conv_filters=3, conv_kernel=3, conv_stride=stride,
        conv_pad=pad, pool_size=2, weight_decay=0.05, weight_decay_kind=kind, dtype="float64",
    )  # fmt: skip
    rng = np.random.default_rng(2)
    network = build_network(config, (1, 8, 8), 3, np.random.default_rng(3))
    assert [type(layer) for layer in network.layers] == [
        Convolution, ReLU, Pooling, Affine, ReLU, Affine,
    ]  # fmt: skip
    perturb_non_weights(network, rng)
    keep_weights_off_zero(network)
    x, labels = 0.3 * rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 3, size=4)
    pairs = gradient_pairs(network, x, labels)
    assert len(pairs) == 6  # W and b of the convolution and of the two affine layers
    errors = [relative_error(backprop, numerical) for backprop, numerical in pairs]
    assert max(errors) < NETWORK_TOLERANCE, errors


def test_check_gradients_on_a_network() -> None:
    """`check_gradients`, the helper the docs recommend, agrees on a whole network."""
    config = TrainConfig(hidden_sizes=(5,), weight_decay=0.1, dtype="float64")
    network = multi_layer_net(config, 4, 3, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)

    def backprop() -> list[np.ndarray]:
        network.gradient_step(x, labels)
        return network.grads

    errors = check_gradients(lambda: network.loss(x, labels, train=True), backprop, network.params)
    assert len(errors) == 4 and max(errors) < NETWORK_TOLERANCE


def build_decayed_net(kind: str, weight_decay: float) -> Network:
    config = TrainConfig(
        hidden_sizes=(5, 4), batch_norm=True, dropout_rate=0.2, weight_decay=weight_decay,
        weight_decay_kind=kind, dtype="float64",
    )  # fmt: skip
    network = multi_layer_net(config, 6, 3, np.random.default_rng(4))
    perturb_non_weights(network, np.random.default_rng(5))
    return network


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_is_on_weights_only(kind: str) -> None:
    weight_decay = 0.7
    network = build_decayed_net(kind, weight_decay)
    weights = [layer.W for layer in network.layers if isinstance(layer, Affine)]
    others = [
        p for layer in network.layers for p in layer.params if not any(p is w for w in weights)
    ]
    assert len(weights) == 3 and len(others) == 3 + 2 * 2  # b ×3; gamma, beta ×2
    if kind == "l2":
        expected = 0.5 * weight_decay * sum(float(np.sum(w**2)) for w in weights)
    else:
        expected = weight_decay * sum(float(np.sum(np.abs(w))) for w in weights)
    assert network.penalty() == pytest.approx(expected, rel=1e-12)
    for param in others:  # biases, gamma and beta do not enter the penalty
        param += 10.0
    assert network.penalty() == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(6)
    x, labels = rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)
    network.weight_decay = 0.0
    assert network.penalty() == 0.0
    data_loss = network.loss(x, labels, train=False)
    network.weight_decay = weight_decay
    assert network.loss(x, labels, train=False) == pytest.approx(data_loss + expected, rel=1e-12)


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_gradient_is_on_weights_only(kind: str) -> None:
    weight_decay = 0.7
    network = build_decayed_net(kind, weight_decay)
    rng = np.random.default_rng(7)
    x, labels = rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)
    fixed_masks(network, x, labels)
    network.gradient_step(x, labels)
    with_decay = [g.copy() for g in network.grads]
    network.weight_decay = 0.0
    network.gradient_step(x, labels)
    for layer in network.layers:
        for param, grad, decay in zip(layer.params, layer.grads, layer.decay, strict=True):
            index = next(i for i, p in enumerate(network.params) if p is param)
            difference = with_decay[index] - grad
            if decay:
                assert isinstance(layer, Affine) and param is layer.W
                expected = weight_decay * (param if kind == "l2" else np.sign(param))
                np.testing.assert_allclose(difference, expected, rtol=1e-9, atol=1e-12)
            else:
                np.testing.assert_array_equal(difference, 0.0)


def test_gradient_step_reports_a_non_finite_loss_and_keeps_the_gradients() -> None:
    network = build_decayed_net("l2", 0.1)
    rng = np.random.default_rng(8)
    x, labels = rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)
    assert network.gradient_step(x, labels) is True
    before = network.flat_grads.copy()
    x[3, 0] = np.inf  # its scores become inf - inf = NaN
    with np.errstate(invalid="ignore"):
        assert network.gradient_step(x, labels) is False
    np.testing.assert_array_equal(network.flat_grads, before)


def test_multi_layer_net_structure() -> None:
    config = TrainConfig(hidden_sizes=(8, 6), activation="tanh", batch_norm=True, dropout_rate=0.5)
    network = build_network(config, (1, 3, 4), 5, np.random.default_rng(0))
    assert [type(layer) for layer in network.layers] == [
        Affine, BatchNorm, Tanh, Dropout, Affine, BatchNorm, Tanh, Dropout, Affine,
    ]  # fmt: skip
    assert [p.shape for p in network.params] == [
        (12, 8), (8,), (8,), (8,), (8, 6), (6,), (6,), (6,), (6, 5), (5,),
    ]  # fmt: skip
    assert all(p.dtype == np.float32 for p in network.params)  # the default dtype
    first = network.layers[0]
    assert isinstance(first, Affine) and first.input_grad is False  # the data needs no dx
    plain = build_network(TrainConfig(hidden_sizes=(4,), activation="sigmoid"), (3,), 2,
                          np.random.default_rng(0))  # fmt: skip
    assert [type(layer) for layer in plain.layers] == [Affine, Sigmoid, Affine]


def test_params_and_grads_are_views_of_one_flat_array_weights_first() -> None:
    """The optimizer updates flat_params in one call: every layer must see the update."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((12, 6)), rng.standard_normal((6, 5))
    b1, b2 = rng.standard_normal(6), rng.standard_normal(5)
    layers = [Affine(w1.copy(), b1.copy()), BatchNorm(6, dtype=w1.dtype), ReLU(),
              Affine(w2.copy(), b2.copy())]  # fmt: skip
    network = Network(layers, weight_decay=0.1, weight_decay_kind="l2")
    ones, zeros = np.ones(6), np.zeros(6)
    for p, expected in zip(network.params, [w1, b1, ones, zeros, w2, b2], strict=True):
        np.testing.assert_array_equal(p, expected)  # binding kept the values
    np.testing.assert_array_equal(network.decayed_params, np.concatenate([w1.ravel(), w2.ravel()]))
    assert network.flat_params.size == sum(p.size for p in network.params)
    assert all(np.shares_memory(p, network.flat_params) for p in network.params)
    assert all(np.shares_memory(g, network.flat_grads) for g in network.grads)
    network.gradient_step(rng.standard_normal((7, 12)), rng.integers(0, 5, 7))
    grads = [g.copy() for g in network.grads]
    assert all(g.any() for g in grads)
    network.flat_params -= 0.5 * network.flat_grads
    for p, before, g in zip(network.params, [w1, b1, ones, zeros, w2, b2], grads, strict=True):
        np.testing.assert_array_equal(p, before - 0.5 * g)


def test_evaluate_scores_in_inference_mode() -> None:
    config = TrainConfig(hidden_sizes=(10,), dropout_rate=0.5, dtype="float64")
    network = multi_layer_net(config, 4, 3, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((20, 4)), rng.integers(0, 3, size=20)
    loss, accuracy = network.evaluate(x, labels)
    again = network.evaluate(x, labels)  # no dropout mask drawn: deterministic
    assert (loss, accuracy) == again
    predicted = np.argmax(network.scores(x, train=False), axis=1)
    assert accuracy == pytest.approx(np.mean(predicted == labels))
    assert loss == pytest.approx(network.loss(x, labels, train=False))


def test_convnet_rejects_inputs_it_cannot_fit() -> None:
    config = TrainConfig(model="convnet", conv_kernel=5, pool_size=2)
    with pytest.raises(ValueError, match="do not fit"):
        build_network(config, (1, 5, 5), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="channels, height, width"):
        build_network(config, (64,), 10, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("init", "fan_in", "expected"),
    [
        ("std", 784, 0.01),
        ("std", 50, 0.01),
        ("xavier", 784, math.sqrt(1 / 784)),
        ("xavier", 50, math.sqrt(1 / 50)),
        ("he", 784, math.sqrt(2 / 784)),
        ("he", 50, math.sqrt(2 / 50)),
    ],
)
def test_weight_std(init: str, fan_in: int, expected: float) -> None:
    assert weight_std(init, fan_in, 0.01) == pytest.approx(expected, rel=1e-15)
    weights = gaussian_weights(
        (fan_in, 400), fan_in, init=init, init_std=0.01, rng=np.random.default_rng(fan_in),
        dtype=np.dtype(np.float32),
    )  # fmt: skip
    assert weights.dtype == np.float32
    # The sample std of n Gaussians has relative standard error 1/sqrt(2n) <= 1.8%; allow 5 SE.
    n = weights.size
    assert abs(float(weights.std()) / expected - 1) < 5 / math.sqrt(2 * n)
    assert abs(float(weights.mean())) < 5 * expected / math.sqrt(n)


def test_weight_std_rejects_unknown_init() -> None:
    with pytest.raises(ValueError, match="unknown init"):
        weight_std("lecun", 10, 0.01)


@pytest.mark.parametrize("init", ["std", "xavier", "he"])
def test_networks_initialise_each_layer_by_its_fan_in(init: str) -> None:
    config = TrainConfig(hidden_sizes=(300, 200), init=init, init_std=0.05)
    network = build_network(config, (1, 28, 28), 10, np.random.default_rng(0))
    affines = [layer for layer in network.layers if isinstance(layer, Affine)]
    for layer, fan_in in zip(affines, (784, 300, 200), strict=True):
        expected = weight_std(init, fan_in, 0.05)
        assert abs(float(layer.W.std()) / expected - 1) < 5 / math.sqrt(2 * layer.W.size)
        np.testing.assert_array_equal(layer.b, 0.0)
    conv_config = TrainConfig(model="convnet", init=init, init_std=0.05, conv_filters=200)
    conv = build_network(conv_config, (2, 12, 12), 10, np.random.default_rng(0)).layers[0]
    assert isinstance(conv, Convolution)
    expected = weight_std(init, 2 * 5 * 5, 0.05)  # fan-in of a filter: channels × kernel²
    assert abs(float(conv.W.std()) / expected - 1) < 5 / math.sqrt(2 * conv.W.size)


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_convnet_penalty_covers_filters_not_biases(kind: str) -> None:
    config = TrainConfig(
        model="convnet", hidden_sizes=(6,), conv_filters=3, conv_kernel=3, weight_decay=0.3,
        weight_decay_kind=kind, dtype="float64",
    )  # fmt: skip
    network = build_network(config, (1, 8, 8), 3, np.random.default_rng(0))
    perturb_non_weights(network, np.random.default_rng(1))
    weights = [layer.W for layer in network.layers if isinstance(layer, Affine | Convolution)]
    assert [id(p) for p, _ in network.decayed] == [id(w) for w in weights] and len(weights) == 3
    if kind == "l2":
        expected = 0.5 * 0.3 * sum(float(np.sum(w**2)) for w in weights)
    else:
        expected = 0.3 * sum(float(np.sum(np.abs(w))) for w in weights)
    assert network.penalty() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("activation", "init", "batch_norm"),
    [("sigmoid", "std", False), ("relu", "xavier", False), ("relu", "he", True)],
)
def test_hidden_activations_equal_a_forward_pass_built_by_hand(
    activation: str, init: str, batch_norm: bool
) -> None:
    from trainer import hidden_activations

    config = TrainConfig(
        hidden_sizes=(7, 5, 4),
        activation=activation,
        init=init,
        init_std=1.0,
        batch_norm=batch_norm,
        dtype="float64",
        seed=11,
    )
    x = np.random.default_rng(0).standard_normal((30, 6))
    got = hidden_activations(config, x, n_classes=3)
    network = build_network(config, (6,), 3, np.random.default_rng(11))
    affines = [layer for layer in network.layers if isinstance(layer, Affine)]
    functions = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)), "relu": lambda a: np.maximum(a, 0)}
    h, expected = x, []
    for affine in affines[:-1]:
        a = h @ affine.W + affine.b
        if batch_norm:  # at initialisation: running mean 0, variance 1, gamma 1, beta 0
            a = a / np.sqrt(1 + 1e-6)
        h = functions[activation](a)
        expected.append(h)
    assert len(got) == 3
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
