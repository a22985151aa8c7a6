"""Layers with `forward(x, *, train)` and `backward(dout)`, after the book's common/layers.py.

A layer with parameters owns them as arrays (`params`) with same-shaped gradient arrays
(`grads`), filled by `backward`. `decay` says which params the weight penalty applies to
(weights, never biases or BatchNorm's gamma and beta). Shapes: N is the batch size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Array = np.ndarray


class Layer:
    """Base: a parameter-free layer. Subclasses set `params`, `grads` and `decay`, and name
    the attributes that hold them in `param_names` and `grad_names`."""

    params: list[Array]
    grads: list[Array]
    decay: list[bool]
    param_names: tuple[str, ...] = ()
    grad_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params, self.grads, self.decay = [], [], []

    def bind(self, params: list[Array], grads: list[Array]) -> None:
        """Hold `params` (given the current values) and `grads` instead: same shapes, e.g.
        views into one flat buffer that an optimizer updates in one call."""
        for name, old, new in zip(self.param_names, self.params, params, strict=True):
            new[...] = old
            setattr(self, name, new)
        for name, new in zip(self.grad_names, grads, strict=True):
            setattr(self, name, new)
        self.params, self.grads = params, grads

    def forward(self, x: Array, *, train: bool) -> Array:
        raise NotImplementedError

    def backward(self, dout: Array) -> Array:
        raise NotImplementedError


class Affine(Layer):
    """y = x·W + b for x of shape (N, ...) flattened to (N, D); W (D, M), b (M,).

    `input_grad=False` skips dx for the first layer, whose input is the data: on the book's
    784-100×6 network that is a sixth of the matrix-multiply work of a training step.

    `live_inputs = k` (set by `zero_inputs_last`) says that the features after the first k
    are zero in the training data: x may then carry only the first k (forward and backward use
    W[:k], and dW[k:] is 0), and a full-width x multiplies W[k:] only in its rows with a
    nonzero feature there.
    """

    param_names, grad_names = ("W", "b"), ("dW", "db")

    def __init__(self, weight: Array, bias: Array, *, input_grad: bool = True) -> None:
        super().__init__()
        self.W, self.b = weight, bias
        self.dW, self.db = np.zeros_like(weight), np.zeros_like(bias)
        self.params, self.grads, self.decay = [self.W, self.b], [self.dW, self.db], [True, False]
        self.input_grad = input_grad
        self.live_inputs = len(weight)
        self._x: Array | None = None
        self._x_shape: tuple[int, ...] = ()

    def forward(self, x: Array, *, train: bool) -> Array:
        self._x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self._x = x
        k = self.live_inputs
        out = x[:, :k] @ self.W[:k]
        if x.shape[1] > k:
            rows = np.flatnonzero(x[:, k:].any(axis=1))
            out[rows] += x[rows, k:] @ self.W[k:]
        out += self.b
        return out

    def backward(self, dout: Array) -> Array:
        assert self._x is not None, "backward before forward"
        width = self._x.shape[1]
        np.matmul(self._x.T, dout, out=self.dW[:width])
        if width < len(self.dW):
            self.dW[width:] = 0
        # A column sum as a product with ones: BLAS runs it faster than np.sum.
        np.matmul(constant(1.0, (len(dout),), dout.dtype), dout, out=self.db)
        if not self.input_grad:
            return np.empty(0, dtype=dout.dtype)
        return (dout @ self.W[:width].T).reshape(self._x_shape)


class ReLU(Layer):
    """max(x, 0). NumPy runs a binary ufunc fastest on two arrays of one shape and dtype: the
    mask is kept in x's dtype (a bool operand costs a cast loop, twice the time of the multiply
    itself) and inference takes the maximum with an array of zeros, not the scalar 0 (three
    times as fast on 500×100 here)."""

    def forward(self, x: Array, *, train: bool) -> Array:
        if not train:  # inference never goes backward: no mask to keep
            return np.maximum(x, constant(0.0, x.shape, x.dtype))
        self._mask = (x > 0).astype(x.dtype)
        return x * self._mask

    def backward(self, dout: Array) -> Array:
        return dout * self._mask


class Sigmoid(Layer):
    def forward(self, x: Array, *, train: bool) -> Array:
        # exp overflows to inf for very negative x, giving the right limit 0.
        with np.errstate(over="ignore"):
            self._out = 1.0 / (1.0 + np.exp(-x))
        return self._out

    def backward(self, dout: Array) -> Array:
        return dout * (1.0 - self._out) * self._out


class Tanh(Layer):
    def forward(self, x: Array, *, train: bool) -> Array:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: Array) -> Array:
        return dout * (1.0 - self._out * self._out)


class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015) over the features of (N, D) or (N, C, H, W).

    Training normalises with the batch statistics and updates running averages
    (`running = momentum·running + (1 - momentum)·batch`); inference uses the running ones.
    Both divide by √(var + ε) with the book's ε = 1e-6 (its code writes 10e-7): ε keeps a
    near-constant feature from being blown up, and the book's value keeps results comparable.
    """

    param_names, grad_names = ("gamma", "beta"), ("dgamma", "dbeta")

    def __init__(self, size: int, *, dtype: np.dtype, momentum: float = 0.9) -> None:
        super().__init__()
        self.gamma, self.beta = np.ones(size, dtype=dtype), np.zeros(size, dtype=dtype)
        self.dgamma, self.dbeta = np.zeros_like(self.gamma), np.zeros_like(self.beta)
        self.params, self.grads = [self.gamma, self.beta], [self.dgamma, self.dbeta]
        self.decay = [False, False]
        self.momentum = momentum
        self.running_mean = np.zeros(size, dtype=dtype)
        self.running_var = np.ones(size, dtype=dtype)
        self.eps = 1e-6  # the book's common/layers.py writes 10e-7

    def forward(self, x: Array, *, train: bool) -> Array:
        self._input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if train:
            mean = x.mean(axis=0)
            self._xc = x - mean
            var = np.mean(self._xc**2, axis=0)
            self._std = np.sqrt(var + self.eps)
            self._xn = self._xc / self._std
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mean
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
            xn = self._xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return (self.gamma * xn + self.beta).reshape(self._input_shape)

    def backward(self, dout: Array) -> Array:
        dout = dout.reshape(dout.shape[0], -1)
        n = dout.shape[0]
        np.sum(dout, axis=0, out=self.dbeta)
        np.sum(self._xn * dout, axis=0, out=self.dgamma)
        dxn = self.gamma * dout
        dxc = dxn / self._std
        dstd = -np.sum((dxn * self._xc) / (self._std * self._std), axis=0)
        dvar = 0.5 * dstd / self._std
        dxc += (2.0 / n) * self._xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / n
        return dx.reshape(self._input_shape)


class Dropout(Layer):
    """Drops each unit with probability `rate` in training, as in the book.

    Inference multiplies by (1 - rate), so the expected activation matches training.
    `reuse_mask = True` keeps the last mask (for gradient checks, which call forward often).
    """

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.rate, self.rng = rate, rng
        self.reuse_mask = False
        self._mask: Array | None = None

    def forward(self, x: Array, *, train: bool) -> Array:
        if not train:
            return x * np.asarray(1.0 - self.rate, dtype=x.dtype)
        if not (self.reuse_mask and self._mask is not None):
            self._mask = self.rng.random(x.shape, dtype=np.float32) > self.rate
        return x * self._mask

    def backward(self, dout: Array) -> Array:
        return dout * self._mask


@lru_cache(maxsize=32)
def constant(value: float, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """A read-only array of `shape` filled with `value`, made once per shape and dtype.

    Zeros cost no memory until read, and then share the kernel's one zero page."""
    array = np.zeros(shape, dtype=dtype)
    if value:
        array.fill(value)
    array.flags.writeable = False
    return array


def softmax(x: Array) -> Array:
    """Row-wise softmax of (N, C) scores, shifted by the row maximum for stability.

    Computed on a C×N copy: NumPy reduces a short last axis row by row, which for 10 classes
    costs several times the arithmetic; reducing over the first axis runs along all N at once.
    The result is that copy transposed back (Fortran-ordered).
    """
    exp = x.T.copy()
    exp -= exp.max(axis=0)
    np.exp(exp, out=exp)
    exp /= exp.sum(axis=0)
    return exp.T


def cross_entropy(probabilities: Array, labels: Array) -> float:
    """Mean of -log p[label] over the batch; `labels` are integer classes of shape (N,)."""
    n = probabilities.shape[0]
    picked = probabilities[np.arange(n), labels]
    return float(-np.mean(np.log(picked + 1e-7)))


class SoftmaxWithLoss:
    """Softmax followed by cross-entropy; `backward` gives d(mean loss)/d(scores).

    `gradient` is the training step's shortcut: the same gradient without the loss, which a
    training step would only check for finiteness.
    """

    def forward(self, x: Array, labels: Array) -> float:
        self._y, self._labels = softmax(x), labels
        return cross_entropy(self._y, labels)

    def backward(self) -> Array:
        return _softmax_loss_gradient(self._y.copy(), self._labels)

    def gradient(self, x: Array, labels: Array) -> Array | None:
        """d(mean loss)/d(scores), or None where the loss would not be finite: a score that is
        NaN or infinite turns its whole row of the softmax into NaN (the loss itself is finite
        otherwise, thanks to its 1e-7 guard)."""
        y = softmax(x)
        return _softmax_loss_gradient(y, labels) if np.isfinite(y[:, 0]).all() else None


def _softmax_loss_gradient(y: Array, labels: Array) -> Array:
    """(y - onehot(labels)) / N, computed in y."""
    n = labels.shape[0]
    y[np.arange(n), labels] -= 1
    y /= n
    return y
