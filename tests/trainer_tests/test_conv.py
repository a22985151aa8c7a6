"""Tests of trainer.conv: im2col against a direct loop, its adjoint col2im, and Convolution and
Pooling against naive references and central-difference gradients (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.conv import Convolution, Pooling, col2im, im2col, output_size
from trainer.gradcheck import check_gradients
from trainer.layers import Layer

# (input shape, kernel_h, kernel_w, stride, pad): square and oblong kernels, strides that do and
# do not tile the input, padding wider than the stride.
GEOMETRIES = [
    ((2, 3, 5, 5), 3, 3, 1, 0),
    ((2, 3, 7, 7), 3, 3, 2, 1),
    ((1, 2, 7, 6), 3, 2, 3, 0),
    ((2, 1, 4, 5), 2, 3, 1, 2),
]


def padded_windows(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """(N, C, OH, OW, kh, kw): the window under each output position, by explicit loops."""
    n, c, h, w = x.shape
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    out_h, out_w = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    windows = np.empty((n, c, out_h, out_w, kh, kw), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            windows[:, :, i, j] = padded[:, :, top : top + kh, left : left + kw]
    return windows


def layer_errors(layer: Layer, x: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Relative errors of [dx, *layer.grads] for the loss sum(layer(x) * weights)."""
    weights = rng.standard_normal(layer.forward(x, train=True).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x, train=True) * weights))

    def backprop() -> list[np.ndarray]:
        layer.forward(x, train=True)
        return [layer.backward(weights.copy()), *layer.grads]

    return check_gradients(loss, backprop, [x, *layer.params])


def test_output_size() -> None:
    assert output_size(28, 5, 1, 0) == 24
    assert output_size(7, 3, 2, 1) == 4
    assert output_size(7, 3, 3, 0) == 2  # the last column is not covered


@pytest.mark.parametrize(("shape", "kh", "kw", "stride", "pad"), GEOMETRIES)
def test_im2col_rows_are_windows(
    shape: tuple[int, int, int, int], kh: int, kw: int, stride: int, pad: int
) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    col = im2col(x, kh, kw, stride, pad)
    windows = padded_windows(x, kh, kw, stride, pad)  # (N, C, OH, OW, kh, kw)
    # Rows in (n, oh, ow) order, columns in (c, kh, kw) order.
    expected = windows.transpose(0, 2, 3, 1, 4, 5).reshape(col.shape[0], -1)
    np.testing.assert_array_equal(col, expected)


@pytest.mark.parametrize(("shape", "kh", "kw", "stride", "pad"), GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(
    shape: tuple[int, int, int, int], kh: int, kw: int, stride: int, pad: int
) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    col = im2col(x, kh, kw, stride, pad)
    y = rng.standard_normal(col.shape)
    back = col2im(y, shape, kh, kw, stride, pad)
    assert back.shape == shape
    # <im2col(x), y> == <x, col2im(y)> for all x, y.
    assert np.sum(col * y) == pytest.approx(np.sum(x * back), rel=1e-12)


@pytest.mark.parametrize(("shape", "kh", "kw", "stride", "pad"), GEOMETRIES)
def test_convolution_forward_matches_direct_loop(
    shape: tuple[int, int, int, int], kh: int, kw: int, stride: int, pad: int
) -> None:
    rng = np.random.default_rng(2)
    weight, bias = rng.standard_normal((4, shape[1], kh, kw)), rng.standard_normal(4)
    x = rng.standard_normal(shape)
    out = Convolution(weight, bias, stride=stride, pad=pad).forward(x, train=True)
    windows = padded_windows(x, kh, kw, stride, pad)
    expected = np.einsum("ncijhw,fchw->nfij", windows, weight) + bias[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("shape", "kh", "kw", "stride", "pad"), GEOMETRIES)
def test_convolution_gradients(
    shape: tuple[int, int, int, int], kh: int, kw: int, stride: int, pad: int
) -> None:
    rng = np.random.default_rng(3)
    layer = Convolution(
        rng.standard_normal((4, shape[1], kh, kw)),
        rng.standard_normal(4),
        stride=stride,
        pad=pad,
    )
    errors = layer_errors(layer, rng.standard_normal(shape), rng)
    assert len(errors) == 3  # dx, dW, db
    assert max(errors) < 1e-8, errors  # linear in each argument: measured about 1e-11
    assert layer.decay == [True, False]


def test_convolution_without_input_gradient() -> None:
    rng = np.random.default_rng(4)
    weight, bias = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 6, 6))
    full = Convolution(weight, bias, stride=1, pad=1)
    first = Convolution(weight.copy(), bias.copy(), stride=1, pad=1, input_grad=False)
    dout = rng.standard_normal(full.forward(x, train=True).shape)
    first.forward(x, train=True)
    assert full.backward(dout).shape == x.shape
    assert first.backward(dout).size == 0
    np.testing.assert_allclose(first.dW, full.dW, rtol=1e-12)
    np.testing.assert_allclose(first.db, full.db, rtol=1e-12)


def distinct_values(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values 0.01 apart in random order: no ties in a pooling window, none within h of another."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 7.5) * 0.01 + 0.005


# (input shape, pool_h, pool_w, stride): tiling windows, overlapping ones, an odd input size.
POOLS = [
    ((2, 3, 4, 4), 2, 2, None),
    ((2, 2, 5, 5), 3, 3, 1),
    ((1, 3, 7, 7), 2, 2, None),
    ((2, 2, 6, 7), 2, 3, 2),
]


@pytest.mark.parametrize(("shape", "ph", "pw", "stride"), POOLS)
def test_pooling_forward_is_window_maximum(
    shape: tuple[int, int, int, int], ph: int, pw: int, stride: int | None
) -> None:
    x = distinct_values(shape, np.random.default_rng(5))
    out = Pooling(ph, pw, stride=stride).forward(x, train=True)
    expected = padded_windows(x, ph, pw, ph if stride is None else stride, 0).max(axis=(4, 5))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("shape", "ph", "pw", "stride"), POOLS)
def test_pooling_gradients(
    shape: tuple[int, int, int, int], ph: int, pw: int, stride: int | None
) -> None:
    rng = np.random.default_rng(6)
    x = distinct_values(shape, rng)
    layer = Pooling(ph, pw, stride=stride)
    (error,) = layer_errors(layer, x, rng)
    assert error < 1e-8  # piecewise linear, no kink within h: measured about 1e-11
    # Each output's gradient goes to exactly one input (its window's maximum).
    dx = layer.backward(np.ones(layer.forward(x, train=True).shape))
    assert np.sum(dx) == pytest.approx(np.prod(layer.forward(x, train=True).shape))
