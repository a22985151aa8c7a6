"""Tests of trainer.optimizers: two steps of each rule against the book's formulas written out
by hand, descent on a quadratic, state kept per parameter, and float32 kept float32."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.optimizers import (
    EPS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    make_optimizer,
)

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.1, -0.3, 0.2])
G2 = np.array([-0.2, 0.1, 0.4])
LR = 0.1


def two_steps(optimizer: Optimizer) -> tuple[np.ndarray, np.ndarray]:
    """Parameters after one and after two updates from P0 with gradients G1 then G2."""
    p = P0.copy()
    optimizer.update([p], [G1.copy()])
    after_one = p.copy()
    optimizer.update([p], [G2.copy()])
    return after_one, p


def assert_steps(optimizer: Optimizer, p1: np.ndarray, p2: np.ndarray) -> None:
    got1, got2 = two_steps(optimizer)
    np.testing.assert_allclose(got1, p1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got2, p2, rtol=1e-12, atol=1e-15)


def test_sgd_steps() -> None:
    p1 = P0 - LR * G1
    assert_steps(SGD(LR), p1, p1 - LR * G2)


def test_momentum_steps() -> None:
    m = 0.9
    v1 = -LR * G1  # v starts at 0
    p1 = P0 + v1
    v2 = m * v1 - LR * G2
    assert_steps(Momentum(LR, m), p1, p1 + v2)


def test_nesterov_steps() -> None:
    m = 0.8
    v1 = -LR * G1
    p1 = P0 + m * m * v1 - (1 + m) * LR * G1
    v2 = m * v1 - LR * G2
    p2 = p1 + m * m * v2 - (1 + m) * LR * G2
    assert_steps(Nesterov(LR, m), p1, p2)


def test_adagrad_steps() -> None:
    h1 = G1**2
    p1 = P0 - LR * G1 / (np.sqrt(h1) + 1e-7)
    h2 = h1 + G2**2
    assert_steps(AdaGrad(LR), p1, p1 - LR * G2 / (np.sqrt(h2) + 1e-7))


def test_rmsprop_steps() -> None:
    rho = 0.9
    h1 = (1 - rho) * G1**2
    p1 = P0 - LR * G1 / (np.sqrt(h1) + 1e-7)
    h2 = rho * h1 + (1 - rho) * G2**2
    assert_steps(RMSprop(LR, rho), p1, p1 - LR * G2 / (np.sqrt(h2) + 1e-7))


def test_adam_steps_with_bias_correction() -> None:
    b1, b2 = 0.9, 0.999
    # The book's form: bias correction folded into the step size lr_t.
    m1, v1 = (1 - b1) * G1, (1 - b2) * G1**2
    lr1 = LR * np.sqrt(1 - b2) / (1 - b1)
    p1 = P0 - lr1 * m1 / (np.sqrt(v1) + 1e-7)
    m2, v2 = b1 * m1 + (1 - b1) * G2, b2 * v1 + (1 - b2) * G2**2
    lr2 = LR * np.sqrt(1 - b2**2) / (1 - b1**2)
    p2 = p1 - lr2 * m2 / (np.sqrt(v2) + 1e-7)
    assert_steps(Adam(LR, b1, b2), p1, p2)
    # The paper's form, m̂ / (√v̂ + ε), differs only in where ε sits: the book adds it to √v, so
    # its steps are shorter by a relative ε / (√(1 - β2ᵗ)·|g|), here at most 3.2e-5.
    paper_step = LR * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + 1e-7)
    np.testing.assert_allclose(P0 - p1, paper_step, rtol=1e-4)
    # So the first step moves every coordinate by about lr against its gradient.
    np.testing.assert_allclose(P0 - p1, LR * np.sign(G1), rtol=1e-4)


def test_epsilon_is_the_books() -> None:
    assert EPS == 1e-7


# The book's test function f(x, y) = x²/20 + y² (6.1.2) in the form 0.5·Σ a_i w_i², plus two
# more coordinates; start at the book's (-7, 2).
CURVATURE = np.array([0.1, 2.0, 1.0, 0.5])
START = np.array([-7.0, 2.0, 1.5, -3.0])


def quadratic(w: np.ndarray) -> float:
    return float(0.5 * np.sum(CURVATURE * w * w))


@pytest.mark.parametrize(
    ("optimizer_type", "lr"),
    [(SGD, 0.5), (Momentum, 0.1), (Nesterov, 0.1), (AdaGrad, 1.5), (RMSprop, 0.05), (Adam, 0.3)],
)
def test_descends_a_quadratic(optimizer_type: type[Optimizer], lr: float) -> None:
    optimizer, w = optimizer_type(lr), START.copy()
    for _ in range(200):
        optimizer.update([w], [CURVATURE * w])
    assert quadratic(w) < 1e-3 * quadratic(START), quadratic(w)


NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


@pytest.mark.parametrize("name", NAMES)
def test_state_is_per_parameter_and_float32_stays_float32(name: str) -> None:
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal((3, 2)).astype(np.float32), np.ones(2, dtype=np.float32)]
    steps = [[rng.standard_normal(p.shape).astype(np.float32) for p in starts] for _ in range(3)]
    together, params = make_optimizer(name, lr=0.01), [p.copy() for p in starts]
    for grads in steps:
        together.update(params, grads)
    assert [p.dtype for p in params] == [np.float32, np.float32]
    assert all(slot.dtype == np.float32 for slots in together.state for slot in slots)
    for index, start in enumerate(starts):  # each array alone, with its own optimizer
        alone, p = make_optimizer(name, lr=0.01), start.copy()
        for grads in steps:
            alone.update([p], [grads[index]])
        np.testing.assert_array_equal(p, params[index])


def test_make_optimizer_settings() -> None:
    momentum = make_optimizer("momentum", lr=0.2, momentum=0.5)
    assert isinstance(momentum, Momentum) and (momentum.lr, momentum.momentum) == (0.2, 0.5)
    nesterov = make_optimizer("nesterov", lr=0.2, momentum=0.7)
    assert isinstance(nesterov, Nesterov) and nesterov.momentum == 0.7
    rmsprop = make_optimizer("rmsprop", lr=0.1, rmsprop_decay=0.9)
    assert isinstance(rmsprop, RMSprop) and rmsprop.decay_rate == 0.9
    adam = make_optimizer("adam", lr=0.1, beta1=0.8, beta2=0.99)
    assert isinstance(adam, Adam) and (adam.beta1, adam.beta2) == (0.8, 0.99)
    assert type(make_optimizer("sgd", lr=0.1)) is SGD
    assert type(make_optimizer("adagrad", lr=0.1)) is AdaGrad
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs", lr=0.1)
