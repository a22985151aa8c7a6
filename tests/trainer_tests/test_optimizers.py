"""Tests of trainer.optimizers: four steps of each rule, state included, against its paper's
formulas written out independently in float64; descent on a quadratic, state kept per
parameter, and float32 kept float32."""

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
# A fixed gradient sequence with sign changes, so that every piece of state (velocity,
# accumulators, moments, Adam's step count) shapes the later steps: a state bug cannot hide
# behind a first step, where all state starts at zero.
GRADS = [
    np.array([0.1, -0.3, 0.2]),
    np.array([-0.2, 0.1, 0.4]),
    np.array([0.3, 0.2, -0.1]),
    np.array([0.05, -0.4, 0.3]),
]
LR = 0.1

# After each step: the parameters and the optimizer's state arrays for them (its slots).
Trajectory = list[tuple[np.ndarray, list[np.ndarray]]]


def trajectory(optimizer: Optimizer) -> Trajectory:
    """Parameters and state after each update from P0 with the gradients GRADS in turn."""
    p, out = P0.copy(), []
    for g in GRADS:
        optimizer.update([p], [g.copy()])
        state = [slot.copy() for slot in optimizer.state[0]] if optimizer.state else []
        out.append((p.copy(), state))
    return out


def assert_trajectory(optimizer: Optimizer, expected: Trajectory) -> None:
    got = trajectory(optimizer)
    assert len(got) == len(expected) == len(GRADS)
    for t, ((p, state), (p_ref, state_ref)) in enumerate(zip(got, expected, strict=True), 1):
        np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-15, err_msg=f"W at t={t}")
        assert len(state) == len(state_ref)
        for slot, slot_ref in zip(state, state_ref, strict=True):
            np.testing.assert_allclose(slot, slot_ref, rtol=1e-12, atol=1e-15, err_msg=f"t={t}")


def test_sgd_steps() -> None:
    w, expected = P0.copy(), []
    for g in GRADS:
        w = w - LR * g
        expected.append((w, []))
    assert_trajectory(SGD(LR), expected)


def test_momentum_steps() -> None:
    # Polyak's heavy ball as the book writes it: v ← μ·v - η·g, then W ← W + v.
    mu = 0.9
    w, v, expected = P0.copy(), np.zeros(3), []
    for g in GRADS:
        v = mu * v - LR * g
        w = w + v
        expected.append((w, [v]))
    assert_trajectory(Momentum(LR, mu), expected)


def test_nesterov_steps() -> None:
    # Bengio, Boulanger-Lewandowski and Pascanu 2012 (arXiv 1212.0901), eqs. 6 and 7, with a
    # constant μ: v_t = μ·v_{t-1} - ε·g_t and Θ_t = Θ_{t-1} + μ²·v_{t-1} - (1 + μ)·ε·g_t, where
    # the step uses the velocity v_{t-1} of the previous step.
    mu = 0.8
    w, v_prev, expected = P0.copy(), np.zeros(3), []
    for g in GRADS:
        w = w + mu * mu * v_prev - (1 + mu) * LR * g
        v = mu * v_prev - LR * g
        expected.append((w, [v]))
        v_prev = v
    assert_trajectory(Nesterov(LR, mu), expected)


def test_nesterov_is_the_look_ahead_method_at_the_look_ahead_point() -> None:
    # Eq. 7 is Nesterov's momentum in the form of Sutskever et al. 2013 (the gradient taken at
    # the look-ahead point θ + μ·v: v ← μ·v - ε·∇f(θ + μ·v), θ ← θ + v) rewritten in the
    # variable Θ = θ + μ·v. Run that form independently on a quadratic, where the gradients
    # depend on the path: the trainer's iterates are its look-ahead points, step after step.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3))
    a = a @ a.T + 0.1 * np.eye(3)
    mu, lr = 0.9, 0.5 / float(np.linalg.eigvalsh(a).max())
    theta, v = P0.copy(), np.zeros(3)
    optimizer, w = Nesterov(lr, mu), P0.copy()
    for t in range(1, 11):
        v = mu * v - lr * (a @ (theta + mu * v))
        theta = theta + v
        optimizer.update([w], [a @ w])
        np.testing.assert_allclose(w, theta + mu * v, rtol=1e-12, atol=1e-15, err_msg=f"t={t}")
        np.testing.assert_allclose(optimizer.state[0][0], v, rtol=1e-12, atol=1e-15)


def test_nesterov_beats_momentum_on_an_ill_conditioned_quadratic() -> None:
    # f(w) = 0.5·wᵀAw with A's eigenvalues from 1 down to 0.01 (condition number 100) in a
    # random basis; the optimum is w = 0. With lr = 1/λ_max and μ = 0.9 every mode of either
    # method is an underdamped oscillation; its contraction per step is √μ = 0.949 for
    # Momentum and √(μ·(1 - lr·λ)) < √μ for Nesterov (roots of z² - (1+μ)(1-lr·λ)z + μ(1-lr·λ)).
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    a = q @ np.diag(np.logspace(0, -2, 5)) @ q.T
    start = rng.standard_normal(5)
    distances = {}
    for optimizer in (Momentum(1.0, 0.9), Nesterov(1.0, 0.9)):
        w = start.copy()
        for _ in range(100):
            optimizer.update([w], [a @ w])
        distances[type(optimizer)] = float(np.linalg.norm(w))
    # Measured: Momentum 1.3e-3, Nesterov 3.5e-4 of a start at distance 1.29.
    assert distances[Nesterov] < 0.5 * distances[Momentum] < 1e-2 * np.linalg.norm(start)


def test_adagrad_steps() -> None:
    # Duchi et al. 2011 in the book's form: h ← h + g², W ← W - η·g / (√h + ε), ε = 1e-7.
    w, h, expected = P0.copy(), np.zeros(3), []
    for g in GRADS:
        h = h + g**2
        w = w - LR * g / (np.sqrt(h) + 1e-7)
        expected.append((w, [h]))
    assert_trajectory(AdaGrad(LR), expected)


def test_rmsprop_steps() -> None:
    # Hinton's RMSprop in the book's form: h ← ρ·h + (1 - ρ)·g², W ← W - η·g / (√h + ε).
    rho = 0.9
    w, h, expected = P0.copy(), np.zeros(3), []
    for g in GRADS:
        h = rho * h + (1 - rho) * g**2
        w = w - LR * g / (np.sqrt(h) + 1e-7)
        expected.append((w, [h]))
    assert_trajectory(RMSprop(LR, rho), expected)


def adam_paper(eps_at: list[float], b1: float, b2: float) -> tuple[Trajectory, list[np.ndarray]]:
    """Kingma & Ba 2014, Algorithm 1, over GRADS with ε = eps_at[t - 1] at step t.

    Returns the trajectory (W, [m, v]) and each step's displacement W_{t-1} - W_t.
    """
    w, m, v, expected, steps = P0.copy(), np.zeros(3), np.zeros(3), [], []
    for t, g in enumerate(GRADS, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        step = LR * m_hat / (np.sqrt(v_hat) + eps_at[t - 1])
        w = w - step
        expected.append((w, [m, v]))
        steps.append(step)
    return expected, steps


def test_adam_steps_with_bias_correction() -> None:
    b1, b2 = 0.9, 0.999
    # The book folds the bias correction into the step size, lr·√(1-β2ᵗ)/(1-β1ᵗ)·m/(√v + ε),
    # which is Algorithm 1 with ε/√(1-β2ᵗ) in place of ε: exactly so, state and steps alike.
    folded = [1e-7 / np.sqrt(1 - b2**t) for t in range(1, len(GRADS) + 1)]
    expected, _ = adam_paper(folded, b1, b2)
    adam = Adam(LR, b1, b2)
    assert_trajectory(adam, expected)
    assert adam.iteration == len(GRADS)


def test_adam_is_the_papers_algorithm_up_to_where_epsilon_sits() -> None:
    b1, b2 = 0.9, 0.999
    expected, paper_steps = adam_paper([1e-7] * len(GRADS), b1, b2)
    got = trajectory(Adam(LR, b1, b2))
    before = P0
    for t, ((p, (m, v)), (_, (m_ref, v_ref)), paper_step) in enumerate(
        zip(got, expected, paper_steps, strict=True), 1
    ):
        # The moments do not involve ε: they are the paper's exactly.
        np.testing.assert_allclose(m, m_ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-15)
        # The paper adds ε to √v̂, the book ε/√(1-β2ᵗ): each step is shorter by a relative
        # (ε/√(1-β2ᵗ) - ε) / (√v̂ + ε/√(1-β2ᵗ)) < ε / (√(1-β2ᵗ)·√v̂) = ε/√v, here at most
        # 3.2e-5 (at t = 1, where √v = √(1-β2)·|g| is smallest).
        bound = 1e-7 / np.sqrt(v_ref).min()
        assert bound < 3.2e-5
        np.testing.assert_allclose(before - p, paper_step, rtol=bound, err_msg=f"t={t}")
        before = p
    # So the first step moves every coordinate by about lr against its gradient.
    np.testing.assert_allclose(P0 - got[0][0], LR * np.sign(GRADS[0]), rtol=1e-4)


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
