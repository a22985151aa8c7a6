"""Tests of trainer.layers: backprop against central differences, and inference behaviour.

Every gradient check runs in float64 with a scalar loss sum(out * weights) for fixed random
weights, so dout = weights; relative errors are ‖a - b‖ / (‖a‖ + ‖b‖) (`relative_error`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

from trainer.gradcheck import check_gradients, numerical_gradient, relative_error
from trainer.layers import (
    Affine,
    BatchNorm,
    Dropout,
    Layer,
    ReLU,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    constant,
    cross_entropy,
    softmax,
)

F64 = np.dtype(np.float64)
# Central differences with h = 1e-5 in float64 agree with backprop to about 1e-10 here (measured:
# 1e-11 to 1.1e-10). Smooth layers get the bound 1e-6; piecewise-linear ones, whose difference
# quotient is exact away from kinks (inputs keep clear of them), a tighter 1e-8.
SMOOTH = 1e-6
PIECEWISE_LINEAR = 1e-8


def layer_errors(layer: Layer, x: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Relative errors of [dx, *layer.grads] for the loss sum(layer(x) * weights)."""
    weights = rng.standard_normal(layer.forward(x, train=True).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x, train=True) * weights))

    def backprop() -> list[np.ndarray]:
        layer.forward(x, train=True)
        return [layer.backward(weights.copy()), *layer.grads]

    return check_gradients(loss, backprop, [x, *layer.params])


def away_from_zero(x: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """x with every element at least `margin` from 0 (no kink of ReLU within the step h)."""
    return x + np.where(x >= 0, margin, -margin)


@pytest.mark.parametrize("input_shape", [(5, 4), (3, 2, 2, 3)])
def test_affine_gradients(input_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    fan_in = int(np.prod(input_shape[1:]))
    layer = Affine(rng.standard_normal((fan_in, 6)), rng.standard_normal(6))
    x = rng.standard_normal(input_shape)
    errors = layer_errors(layer, x, rng)
    assert len(errors) == 3  # dx, dW, db
    assert max(errors) < SMOOTH, errors


def test_affine_forward_and_skipped_input_gradient() -> None:
    rng = np.random.default_rng(1)
    weight, bias = rng.standard_normal((12, 3)), rng.standard_normal(3)
    x = rng.standard_normal((4, 1, 3, 4))
    full, first = Affine(weight, bias), Affine(weight.copy(), bias.copy(), input_grad=False)
    out = full.forward(x, train=True)
    np.testing.assert_allclose(out, x.reshape(4, 12) @ weight + bias, rtol=1e-12)
    np.testing.assert_array_equal(first.forward(x, train=True), out)
    dout = rng.standard_normal(out.shape)
    assert full.backward(dout).shape == x.shape
    assert first.backward(dout).size == 0  # the data needs no gradient
    np.testing.assert_allclose(first.dW, full.dW, rtol=1e-12)
    np.testing.assert_allclose(first.db, full.db, rtol=1e-12)
    assert full.decay == [True, False]  # the weight is decayed, the bias is not


def test_affine_with_live_inputs_skips_only_zero_features() -> None:
    """live_inputs = k: x with only its first k features, or full x, gives what x @ W gives."""
    rng = np.random.default_rng(7)
    weight, bias = rng.standard_normal((10, 4)), rng.standard_normal(4)
    x = rng.standard_normal((5, 10))
    x[:, 6:] = 0.0
    x[3, 8] = 2.0  # one row with a value among the skipped features
    plain, skipping = Affine(weight, bias, input_grad=False), Affine(weight.copy(), bias.copy())
    skipping.live_inputs = 6
    np.testing.assert_allclose(skipping.forward(x, train=False), x @ weight + bias, rtol=1e-12)
    zero_tail = np.delete(x, 3, axis=0)
    out = skipping.forward(zero_tail[:, :6], train=True)
    np.testing.assert_allclose(out, plain.forward(zero_tail, train=True), rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    skipping.dW[...] = 1.0  # stale values must not survive backward
    dx = skipping.backward(dout)
    plain.backward(dout)
    assert dx.shape == (4, 6)
    np.testing.assert_allclose(skipping.dW, plain.dW, rtol=1e-12)
    assert not skipping.dW[6:].any()


@pytest.mark.parametrize(
    ("layer_type", "tolerance"), [(ReLU, PIECEWISE_LINEAR), (Sigmoid, SMOOTH), (Tanh, SMOOTH)]
)
def test_activation_gradients(layer_type: type[Layer], tolerance: float) -> None:
    rng = np.random.default_rng(2)
    x = away_from_zero(2 * rng.standard_normal((6, 7)))
    (error,) = layer_errors(layer_type(), x, rng)
    assert error < tolerance


def test_activations_forward() -> None:
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(ReLU().forward(x, train=True), [[0, 0, 0, 0.5, 3.0]])
    np.testing.assert_allclose(Sigmoid().forward(x, train=True), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(Tanh().forward(x, train=True), np.tanh(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_inference_matches_training(dtype: type) -> None:
    """Inference takes the maximum with a cached array of zeros, which nobody can write to."""
    x = np.random.default_rng(9).standard_normal((3, 2, 4, 4)).astype(dtype)
    layer = ReLU()
    trained, inferred = layer.forward(x, train=True), layer.forward(x, train=False)
    np.testing.assert_array_equal(inferred, np.maximum(x, 0))
    np.testing.assert_array_equal(trained, inferred)
    assert inferred.dtype == trained.dtype == dtype
    with pytest.raises(ValueError, match="read-only"):
        constant(0.0, x.shape, x.dtype)[0] = 1


def test_sigmoid_saturates_without_warnings() -> None:
    x = np.array([[-1000.0, 1000.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Sigmoid().forward(x, train=False)
    np.testing.assert_array_equal(out, [[0.0, 1.0]])


@pytest.mark.parametrize("input_shape", [(8, 5), (4, 2, 3, 3)])
def test_batch_norm_gradients(input_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    size = int(np.prod(input_shape[1:]))
    layer = BatchNorm(size, dtype=F64)
    layer.gamma[...] = 1 + 0.5 * rng.standard_normal(size)
    layer.beta[...] = rng.standard_normal(size)
    x = 3 * rng.standard_normal(input_shape) + 1
    errors = layer_errors(layer, x, rng)
    assert len(errors) == 3  # dx, dgamma, dbeta
    assert max(errors) < SMOOTH, errors


def test_batch_norm_normalises_batches_in_training() -> None:
    rng = np.random.default_rng(4)
    layer = BatchNorm(3, dtype=F64)
    x = rng.normal([1.0, -5.0, 20.0], [0.5, 2.0, 10.0], size=(64, 3))
    out = layer.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-6))
    assert layer.decay == [False, False]  # gamma and beta are never decayed


def test_batch_norm_forward_is_the_books_formula_with_its_epsilon() -> None:
    # The book's ε is 10e-7 = 1e-6. Features with standard deviations from 3e-4 to 10, so that
    # for the smallest ones var is below ε and ε decides the output.
    rng = np.random.default_rng(7)
    scales = np.array([3e-4, 1e-3, 1e-2, 1.0, 10.0])
    x = rng.normal(2.0, scales, size=(32, 5))
    gamma, beta = np.array([1.0, 0.5, 2.0, -1.0, 1.5]), np.array([0.1, -0.2, 0.0, 0.3, 1.0])
    layer = BatchNorm(5, dtype=F64)
    layer.gamma[...], layer.beta[...] = gamma, beta
    out = layer.forward(x, train=True)
    mean = x.sum(axis=0) / len(x)
    var = ((x - mean) ** 2).sum(axis=0) / len(x)  # the biased batch variance, as in the book
    expected = (x - mean) / np.sqrt(var + 1e-6) * gamma + beta
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # The test can tell the book's ε from the 1e-7 the trainer had: not by a little.
    with_1e7 = (x - mean) / np.sqrt(var + 1e-7) * gamma + beta
    assert np.abs(with_1e7 - expected).max() > 0.1


def test_batch_norm_inference_uses_running_statistics() -> None:
    rng = np.random.default_rng(5)
    layer = BatchNorm(4, dtype=F64, momentum=0.9)
    layer.gamma[...] = [1.0, 2.0, 0.5, 1.5]
    layer.beta[...] = [0.0, 1.0, -1.0, 0.5]
    x = rng.normal(3.0, 2.0, size=(16, 4))
    train_out = layer.forward(x, train=True)
    # One step from (0, 1): running = 0.9 * running + 0.1 * batch statistic.
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0), rtol=1e-12)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    expected = layer.gamma * (x - mean) / np.sqrt(var + 1e-6) + layer.beta
    np.testing.assert_allclose(layer.forward(x, train=False), expected, rtol=1e-12)
    # Inference leaves the running statistics alone and treats each row on its own.
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_allclose(layer.forward(x[:1], train=False), expected[:1], rtol=1e-12)
    # Once the running statistics have converged, inference reproduces training on that batch.
    for _ in range(300):
        layer.forward(x, train=True)
    np.testing.assert_allclose(layer.forward(x, train=False), train_out, rtol=1e-9, atol=1e-9)


def test_dropout_gradients_with_fixed_mask() -> None:
    rng = np.random.default_rng(6)
    layer = Dropout(0.4, np.random.default_rng(0))
    x = rng.standard_normal((10, 8))
    layer.forward(x, train=True)
    layer.reuse_mask = True
    (error,) = layer_errors(layer, x, rng)
    assert error < PIECEWISE_LINEAR


def test_dropout_reuse_mask() -> None:
    x = np.ones((20, 30))
    layer = Dropout(0.5, np.random.default_rng(0))
    first = layer.forward(x, train=True)
    assert not np.array_equal(layer.forward(x, train=True), first)  # a new mask per call
    layer.reuse_mask = True
    kept = layer.forward(x, train=True)
    np.testing.assert_array_equal(layer.forward(x, train=True), kept)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_inference_scales_by_keep_rate(rate: float) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    layer = Dropout(rate, np.random.default_rng(1))
    out = layer.forward(x, train=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x * (1 - rate), rtol=1e-6)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_training_mean_matches_inference_in_expectation(rate: float) -> None:
    layer = Dropout(rate, np.random.default_rng(2))
    x = np.full((1000, 1000), 3.0)
    out = layer.forward(x, train=True)
    assert set(np.unique(out).tolist()) <= {0.0, 3.0}  # units are dropped or passed unchanged
    # The kept fraction is a binomial mean over 1e6 units: std <= 5e-4; allow 10 std.
    kept = np.mean(out == 3.0)
    assert abs(kept - (1 - rate)) < 5e-3
    inference_mean = float(np.mean(layer.forward(x, train=False)))
    assert abs(float(np.mean(out)) - inference_mean) < 3 * 5e-3


def test_softmax_with_loss_gradient() -> None:
    rng = np.random.default_rng(8)
    head = SoftmaxWithLoss()
    scores = rng.standard_normal((6, 5))
    labels = rng.integers(0, 5, size=6)

    def loss() -> float:
        return head.forward(scores, labels)

    def backprop() -> list[np.ndarray]:
        head.forward(scores, labels)
        return [head.backward()]

    (error,) = check_gradients(loss, backprop, [scores])
    # cross_entropy takes log(p + 1e-7), so its exact gradient differs from backward's (p - t)/N
    # by a relative 1e-7/p, here about 1e-6: an honest bound is 1e-5, not the float64 limit.
    assert error < 1e-5


def test_softmax_with_loss_training_gradient_matches_backward() -> None:
    rng = np.random.default_rng(9)
    scores = rng.standard_normal((6, 5)).astype(np.float32) * 10
    labels = rng.integers(0, 5, size=6)
    head = SoftmaxWithLoss()
    head.forward(scores, labels)
    gradient = head.gradient(scores, labels)
    assert gradient is not None
    np.testing.assert_array_equal(gradient, head.backward())
    # -inf leaves a finite softmax (p = 0) and a finite guarded loss: no divergence.
    scores[0, 1] = -np.inf
    assert head.gradient(scores, labels) is not None


@pytest.mark.parametrize("bad", [np.inf, np.nan, "row of -inf"])
def test_softmax_with_loss_training_gradient_is_none_where_the_loss_is_not(bad: object) -> None:
    scores = np.zeros((3, 4))
    if bad == "row of -inf":
        scores[1] = -np.inf
    else:
        scores[1, 2] = bad
    labels = np.array([0, 1, 2])
    with np.errstate(invalid="ignore"):
        assert not np.isfinite(SoftmaxWithLoss().forward(scores, labels))
        assert SoftmaxWithLoss().gradient(scores, labels) is None


def test_softmax_and_cross_entropy_values() -> None:
    scores = np.array([[1000.0, 1000.0, 999.0], [0.0, 0.0, 0.0]])  # huge scores must not overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(scores)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    e = np.exp(-1.0)
    np.testing.assert_allclose(p[0], [1 / (2 + e), 1 / (2 + e), e / (2 + e)], rtol=1e-12)
    labels = np.array([2, 0])
    expected = -(np.log(e / (2 + e) + 1e-7) + np.log(1 / 3 + 1e-7)) / 2
    assert cross_entropy(p, labels) == pytest.approx(expected, rel=1e-12)
    assert SoftmaxWithLoss().forward(scores, labels) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("function", "exact"),
    [
        (lambda x: float(np.sum(x**3)), lambda x: 3 * x**2),
        (
            lambda x: float(np.sum(np.sin(x) * x[::-1])),
            lambda x: np.cos(x) * x[::-1] + np.sin(x[::-1]),
        ),
    ],
    ids=["cube", "sin"],
)
def test_numerical_gradient_is_central_difference(
    function: Callable[[np.ndarray], float], exact: Callable[[np.ndarray], np.ndarray]
) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal(7)
    before = x.copy()
    grad = numerical_gradient(lambda: function(x), x)
    np.testing.assert_array_equal(x, before)  # every perturbation is undone
    assert relative_error(grad, exact(x)) < 1e-9


def test_relative_error() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0
