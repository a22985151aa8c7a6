"""The book's update rules (6.1), each `update(params, grads)` in place.

`params` and `grads` are parallel lists of arrays; an optimizer keeps its state per position,
so it must always be given the same parameters in the same order.
"""

from __future__ import annotations

import numpy as np

Arrays = list[np.ndarray]
EPS = 1e-7


class Optimizer:
    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.state: list[list[np.ndarray]] = []

    def _slots(self, params: Arrays, count: int) -> list[list[np.ndarray]]:
        if not self.state:
            self.state = [[np.zeros_like(p) for _ in range(count)] for p in params]
        return self.state

    def update(self, params: Arrays, grads: Arrays) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """W ← W - lr·g."""

    def update(self, params: Arrays, grads: Arrays) -> None:
        for p, g in zip(params, grads, strict=True):
            p -= self.lr * g


class Momentum(Optimizer):
    """v ← m·v - lr·g; W ← W + v."""

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def update(self, params: Arrays, grads: Arrays) -> None:
        for p, g, (v,) in zip(params, grads, self._slots(params, 1), strict=True):
            v *= self.momentum
            v -= self.lr * g
            p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient as the book computes it (Bengio et al. 2012, eq. 7).

    Bengio, Boulanger-Lewandowski and Pascanu ("Advances in Optimizing Recurrent Networks",
    arXiv 1212.0901, eq. 7) write Nesterov's look-ahead momentum (v ← m·v - lr·∇f(θ + m·v);
    θ ← θ + v) in the look-ahead point W = θ + m·v, so the gradient is the one at the current
    parameters and the step uses the velocity of the PREVIOUS step:

        W ← W + m·m·v - (1 + m)·lr·g;  then  v ← m·v - lr·g.

    Updating v first, as the book's code did until its fix of January 2021 ("Fix Nesterov
    update function"), moves every step by m·m·(v_new - v_prev) more, -m·m·lr·g already on
    the first; it amounts to taking each gradient at θ + (m + m·m)·v, past the look-ahead point.
    """

    def update(self, params: Arrays, grads: Arrays) -> None:
        # Python floats keep float32 arrays in float32 (NumPy 2 promotes np.float64 scalars).
        m, lr = float(self.momentum), float(self.lr)
        for p, g, (v,) in zip(params, grads, self._slots(params, 1), strict=True):
            p += m * m * v  # the previous velocity
            p -= (1.0 + m) * lr * g
            v *= m
            v -= lr * g


class AdaGrad(Optimizer):
    """h ← h + g²; W ← W - lr·g / (√h + ε)."""

    def update(self, params: Arrays, grads: Arrays) -> None:
        for p, g, (h,) in zip(params, grads, self._slots(params, 1), strict=True):
            h += g * g
            p -= self.lr * g / (np.sqrt(h) + EPS)


class RMSprop(Optimizer):
    """h ← ρ·h + (1 - ρ)·g²; W ← W - lr·g / (√h + ε)."""

    def __init__(self, lr: float, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def update(self, params: Arrays, grads: Arrays) -> None:
        for p, g, (h,) in zip(params, grads, self._slots(params, 1), strict=True):
            h *= self.decay_rate
            h += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (np.sqrt(h) + EPS)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014) with bias correction folded into the step size, as in the book.

    m ← m + (1-β1)(g - m); v ← v + (1-β2)(g² - v);
    W ← W - lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε).
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = beta1, beta2
        self.iteration = 0

    def update(self, params: Arrays, grads: Arrays) -> None:
        self.iteration += 1
        t = self.iteration
        # A Python float keeps float32 arrays in float32 (NumPy 2 promotes np.float64 scalars).
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t))
        for p, g, (m, v) in zip(params, grads, self._slots(params, 2), strict=True):
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            p -= lr_t * m / (np.sqrt(v) + EPS)


def make_optimizer(
    name: str,
    *,
    lr: float,
    momentum: float = 0.9,
    rmsprop_decay: float = 0.99,
    beta1: float = 0.9,
    beta2: float = 0.999,
) -> Optimizer:
    """The optimizer called `name` with its settings."""
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        return Momentum(lr, momentum)
    if name == "nesterov":
        return Nesterov(lr, momentum)
    if name == "adagrad":
        return AdaGrad(lr)
    if name == "rmsprop":
        return RMSprop(lr, rmsprop_decay)
    if name == "adam":
        return Adam(lr, beta1, beta2)
    raise ValueError(f"unknown optimizer {name!r}")
