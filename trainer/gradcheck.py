"""Central-difference numerical gradients, the oracle that backprop is checked against (4.4)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place one element at a time.

    `f` takes no arguments and reads `x` through whatever holds it (a layer's weight array),
    so the same function serves inputs and parameters. Use float64: in float32 the rounding
    error of f swamps the difference quotient.
    """
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        plus = f()
        flat[i] = original - h
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """‖a - b‖ / (‖a‖ + ‖b‖): scale-free agreement of two gradients (0 when both are zero)."""
    scale = float(np.linalg.norm(a) + np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / scale if scale > 0 else 0.0


def check_gradients(
    loss: Callable[[], float],
    backprop: Callable[[], list[np.ndarray]],
    params: list[np.ndarray],
    *,
    h: float = 1e-5,
) -> list[float]:
    """Relative errors between backprop's and numerical gradients, one per parameter array.

    `backprop()` must run forward and backward and return the gradients of `params` in order.
    """
    analytic = [g.copy() for g in backprop()]
    return [
        relative_error(numerical_gradient(loss, p, h), g)
        for p, g in zip(params, analytic, strict=True)
    ]
