"""Convolution and max pooling through im2col (the book's 7.4), on (N, C, H, W) arrays."""

from __future__ import annotations

import numpy as np

from trainer.layers import Layer

Array = np.ndarray


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Spatial output length of a window of `kernel` sliding over `size` + 2·`pad`."""
    return (size + 2 * pad - kernel) // stride + 1


def im2col(images: Array, kernel_h: int, kernel_w: int, stride: int = 1, pad: int = 0) -> Array:
    """Unfold (N, C, H, W) into (N·OH·OW, C·kernel_h·kernel_w), one row per output position."""
    n, c, h, w = images.shape
    out_h, out_w = output_size(h, kernel_h, stride, pad), output_size(w, kernel_w, stride, pad)
    padded = np.pad(images, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.empty((n, c, kernel_h, kernel_w, out_h, out_w), dtype=images.dtype)
    for y in range(kernel_h):
        y_max = y + stride * out_h
        for x in range(kernel_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = padded[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(
    col: Array,
    input_shape: tuple[int, ...],
    kernel_h: int,
    kernel_w: int,
    stride: int = 1,
    pad: int = 0,
) -> Array:
    """The adjoint of `im2col`: scatter-add the rows back into an (N, C, H, W) array."""
    n, c, h, w = input_shape
    out_h, out_w = output_size(h, kernel_h, stride, pad), output_size(w, kernel_w, stride, pad)
    col = col.reshape(n, out_h, out_w, c, kernel_h, kernel_w).transpose(0, 3, 4, 5, 1, 2)
    images = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), col.dtype)
    for y in range(kernel_h):
        y_max = y + stride * out_h
        for x in range(kernel_w):
            x_max = x + stride * out_w
            images[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return images[:, :, pad : h + pad, pad : w + pad]


class Convolution(Layer):
    """Filters W of shape (FN, C, FH, FW) and bias b (FN,) over (N, C, H, W) input."""

    param_names, grad_names = ("W", "b"), ("dW", "db")

    def __init__(
        self, weight: Array, bias: Array, *, stride: int = 1, pad: int = 0, input_grad: bool = True
    ) -> None:
        super().__init__()
        self.W, self.b = weight, bias
        self.dW, self.db = np.zeros_like(weight), np.zeros_like(bias)
        self.params, self.grads, self.decay = [self.W, self.b], [self.dW, self.db], [True, False]
        self.stride, self.pad, self.input_grad = stride, pad, input_grad

    def forward(self, x: Array, *, train: bool) -> Array:
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        out_h = output_size(h, fh, self.stride, self.pad)
        out_w = output_size(w, fw, self.stride, self.pad)
        self._x_shape = x.shape
        self._col = im2col(x, fh, fw, self.stride, self.pad)
        self._col_w = self.W.reshape(fn, -1).T
        out = self._col @ self._col_w + self.b
        return out.reshape(n, out_h, out_w, fn).transpose(0, 3, 1, 2)

    def backward(self, dout: Array) -> Array:
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        np.sum(dout, axis=0, out=self.db)
        self.dW[...] = (self._col.T @ dout).T.reshape(fn, c, fh, fw)
        if not self.input_grad:
            return np.empty(0, dtype=dout.dtype)
        dcol = dout @ self._col_w.T
        return col2im(dcol, self._x_shape, fh, fw, self.stride, self.pad)


class Pooling(Layer):
    """Max pooling over pool_h × pool_w windows."""

    def __init__(
        self, pool_h: int, pool_w: int, *, stride: int | None = None, pad: int = 0
    ) -> None:
        super().__init__()
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride = pool_h if stride is None else stride
        self.pad = pad

    def forward(self, x: Array, *, train: bool) -> Array:
        n, c, h, w = x.shape
        out_h = output_size(h, self.pool_h, self.stride, self.pad)
        out_w = output_size(w, self.pool_w, self.stride, self.pad)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self._x_shape = x.shape
        self._argmax = np.argmax(col, axis=1)
        out = col[np.arange(col.shape[0]), self._argmax]
        return out.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)

    def backward(self, dout: Array) -> Array:
        size = self.pool_h * self.pool_w
        # im2col rows are ordered (n, oh, ow) with columns (c, ph, pw): match that order.
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, size), dtype=dout.dtype)
        dmax[np.arange(self._argmax.size), self._argmax] = dout.reshape(-1)
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self._x_shape, self.pool_h, self.pool_w, self.stride, self.pad)
