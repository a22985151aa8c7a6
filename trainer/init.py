"""Weight initialisation: std (a fixed Gaussian std), Xavier and He (the book's 6.2)."""

from __future__ import annotations

import math

import numpy as np


def weight_std(init: str, fan_in: int, init_std: float) -> float:
    """The standard deviation of the Gaussian weights of a layer with `fan_in` inputs.

    Xavier (Glorot & Bengio 2010) keeps the activation variance for sigmoid and tanh: 1/fan_in.
    He (He et al. 2015) doubles it for ReLU, which zeroes half of its inputs: 2/fan_in.
    """
    if init == "std":
        return init_std
    if init == "xavier":
        return math.sqrt(1.0 / fan_in)
    if init == "he":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown init {init!r}; choose std, xavier or he")


def gaussian_weights(
    shape: tuple[int, ...],
    fan_in: int,
    *,
    init: str,
    init_std: float,
    rng: np.random.Generator,
    dtype: np.dtype,
) -> np.ndarray:
    """Weights of `shape` drawn from N(0, weight_std²), in `dtype`."""
    std = weight_std(init, fan_in, init_std)
    return (std * rng.standard_normal(shape)).astype(dtype)
