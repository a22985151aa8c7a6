"""Trainer speed: the book's trial (784-100×6-10 ReLU, He, SGD, batch 100, 50 epochs, 400 train
+ 100 validation of mnist-5k), on one core.

Printed, all measured in this run, medians of REPEATS interleaved runs:
- seconds per trial (target: at most 0.25 s);
- the matrix-multiply limit: the same trial's matrix products (same shapes, same count, blank
  pixels skipped as the trainer skips them) alone, timed with the same BLAS; achieved GFLOP/s
  of the trial as a fraction of that rate (target: at least 70%), counting the products the
  trainer does and, as model-FLOPs utilisation does, all of the network's; and the rate of a
  large square product for reference;
- the same trial in float64 (what the book's code computes in);
- the same network, data and schedule in PyTorch 2.13.0 on the CPU with one thread, as a ratio
  (target: hpsearch at least 1.6× faster). Needs the `bench` extra; skipped without it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import trainer

REPEATS = 7
SIZES = [784, 100, 100, 100, 100, 100, 100, 10]  # the book's network
BATCH, EPOCHS = 100, 50
BOOK = dict(
    hidden_sizes=tuple(SIZES[1:-1]),
    activation="relu",
    init="he",
    optimizer="sgd",
    batch_size=BATCH,
    epochs=EPOCHS,
    lr=0.0092,
    weight_decay=3.86e-7,
    seed=0,
)


def book_split() -> trainer.Split:
    return trainer.split(trainer.load_dataset("mnist-5k"), n_samples=500, val_fraction=0.2, seed=0)


class Shapes:
    """The matrix products of one book trial, as the trainer does them.

    The trainer skips the input pixels that are blank in every training image (`live` of 784
    stay): the first layer multiplies only those in training and in scoring the training
    rows; validation rows with ink on a skipped pixel (`tail_rows`) add their product.
    """

    def __init__(self, split: trainer.Split) -> None:
        x_train = split.x_train.reshape(len(split.x_train), -1)
        x_val = split.x_val.reshape(len(split.x_val), -1)
        live = x_train.any(axis=0)
        self.n_train, self.n_val = len(x_train), len(x_val)
        self.live = int(live.sum())
        self.tail_rows = int(x_val[:, ~live].any(axis=1).sum())

    def flops(self, *, skip: bool = True) -> float:
        """Multiply-add FLOPs: per training batch forward x·W and backward xᵀ·dout and
        dout·Wᵀ (not for the first layer, whose input is the data); per epoch a forward pass
        over train + validation. `skip=False`: the nominal count, every pixel multiplied."""
        first_in = self.live if skip else SIZES[0]
        rest = sum(2 * i * o for i, o in pairwise(SIZES[1:]))
        first = 2 * first_in * SIZES[1]
        train = self.n_train * (first + rest) * 2 + self.n_train * rest
        score = (self.n_train + self.n_val) * (first + rest)
        if skip:
            score += self.tail_rows * 2 * (SIZES[0] - self.live) * SIZES[1]
        return EPOCHS * (train + score)


def matmul_only(shapes: Shapes, dtype: type) -> Callable[[], None]:
    """The trial's matrix products and nothing else, on preallocated arrays."""
    rng = np.random.default_rng(0)
    sizes = [shapes.live, *SIZES[1:]]
    n_score, dead = shapes.n_train + shapes.n_val, SIZES[0] - shapes.live
    weights = [rng.standard_normal((i, o)).astype(dtype) for i, o in pairwise(sizes)]
    batch = [rng.standard_normal((BATCH, s)).astype(dtype) for s in sizes]
    score = [rng.standard_normal((n_score, s)).astype(dtype) for s in sizes]
    tail = rng.standard_normal((shapes.tail_rows, dead)).astype(dtype)
    tail_weight = rng.standard_normal((dead, SIZES[1])).astype(dtype)
    grads = [np.empty_like(w) for w in weights]

    def run() -> None:
        for _ in range(EPOCHS):
            for _ in range(shapes.n_train // BATCH):
                for k, w in enumerate(weights):
                    np.matmul(batch[k], w, out=batch[k + 1])
                for k in reversed(range(len(weights))):
                    np.matmul(batch[k].T, batch[k + 1], out=grads[k])
                    if k:
                        np.matmul(batch[k + 1], weights[k].T, out=batch[k])
            for k, w in enumerate(weights):
                np.matmul(score[k], w, out=score[k + 1])
            tail @ tail_weight

    return run


def square_gflops(n: int = 1000) -> float:
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    started = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * n**3 / (time.perf_counter() - started) / 1e9


def torch_trial(split: trainer.Split) -> Callable[[], None] | None:
    """The same trial in PyTorch: same sizes, He init, SGD with L2 on weights, same schedule."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    flat = [
        np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
        for x in (split.x_train, split.x_val)
    ]
    x_train = torch.from_numpy(flat[0])
    t_train = torch.from_numpy(split.t_train.astype(np.int64))
    x_score = torch.from_numpy(np.concatenate(flat))
    t_score = torch.from_numpy(np.concatenate([split.t_train, split.t_val]).astype(np.int64))
    n_train = len(x_train)

    def run() -> None:
        torch.manual_seed(0)
        layers: list[Any] = []
        for i, o in pairwise(SIZES):
            linear = torch.nn.Linear(i, o)
            torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            torch.nn.init.zeros_(linear.bias)
            layers += [linear, torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        optimizer = torch.optim.SGD(
            [
                {"params": weights, "weight_decay": BOOK["weight_decay"]},
                {"params": biases, "weight_decay": 0.0},
            ],
            lr=BOOK["lr"],
        )
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(EPOCHS):
            model.train()
            for index in torch.randperm(len(x_train)).split(BATCH):
                optimizer.zero_grad(set_to_none=False)
                loss_fn(model(x_train[index]), t_train[index]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():  # what History records: loss and accuracy, train and val
                scores = model(x_score)
                losses = torch.nn.functional.cross_entropy(scores, t_score, reduction="none")
                correct = scores.argmax(dim=1) == t_score
                penalty = 0.5 * BOOK["weight_decay"] * sum(float((w * w).sum()) for w in weights)
                for part in (slice(0, n_train), slice(n_train, None)):
                    float(losses[part].mean()) + penalty, float(correct[part].float().mean())

    return run


def median_seconds(runs: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median wall time of each callable, interleaved so that machine noise hits all alike."""
    for run in runs.values():
        run()  # warm-up: caches, BLAS start-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEATS):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> dict[str, Any]:
    split = book_split()
    shapes = Shapes(split)
    config32 = trainer.TrainConfig(**BOOK)
    config64 = trainer.TrainConfig(**BOOK, dtype="float64")
    runs: dict[str, Callable[[], Any]] = {
        "hpsearch float32": lambda: trainer.train(config32, split),
        "matmul only float32": matmul_only(shapes, np.float32),
        "hpsearch float64": lambda: trainer.train(config64, split),
    }
    torch_run = torch_trial(split)
    if torch_run is not None:
        runs["pytorch float32"] = torch_run
    with threadpool_limits(limits=1):
        seconds = median_seconds(runs)
        square = square_gflops()
    flops, nominal = shapes.flops(), shapes.flops(skip=False)
    trial, limit = seconds["hpsearch float32"], seconds["matmul only float32"]
    results: dict[str, Any] = {
        "trial_s": round(trial, 4),
        "matmul_limit_s": round(limit, 4),
        "trial_gflops": round(flops / trial / 1e9, 2),
        "matmul_gflops": round(flops / limit / 1e9, 2),
        "fraction_of_matmul_rate": round(limit / trial, 3),
        "square_matmul_gflops": round(square, 1),
        "gflop": round(flops / 1e9, 2),
        "nominal_gflop": round(nominal / 1e9, 2),
        "model_flops_fraction": round(nominal / trial / (flops / limit), 3),
        "live_pixels": shapes.live,
        "float64_s": round(seconds["hpsearch float64"], 4),
        "repeats": REPEATS,
    }
    print(
        f"\ntrainer: the book's trial ({EPOCHS} epochs, {shapes.n_train}+{shapes.n_val} samples), "
        f"1 BLAS thread, median of {REPEATS}\n  {results['nominal_gflop']:.2f} GFLOP of matrix "
        f"products; {shapes.live} of {SIZES[0]} pixels have ink in some training image, "
        f"the others are skipped: {results['gflop']:.2f} GFLOP"
    )
    print(
        f"  seconds per trial       {trial:7.3f} s   {_verdict(trial <= 0.25)} (target <= 0.25 s)"
    )
    print(
        f"  matrix-multiply limit   {limit:7.3f} s   the trial's products alone, "
        f"{results['matmul_gflops']:.1f} GFLOP/s ({square:.0f} GFLOP/s on 1000x1000)"
    )
    rate = flops / limit
    print(
        f"  achieved                {results['trial_gflops']:7.1f} GFLOP/s = "
        f"{limit / trial:.0%} of the matrix-multiply rate, products done   "
        f"{_verdict(limit / trial >= 0.70)} (target >= 70%)"
    )
    print(
        f"                          {nominal / trial / 1e9:7.1f} GFLOP/s = "
        f"{nominal / trial / rate:.0%} of it, the network's products (model FLOPs)   "
        f"{_verdict(nominal / trial / rate >= 0.70)}"
    )
    print(
        f"  float64                 {seconds['hpsearch float64']:7.3f} s   "
        f"{seconds['hpsearch float64'] / trial:.1f}x the float32 trial"
    )
    if torch_run is None:
        print("  pytorch                 skipped: pip install -e '.[bench]' (make bench does)")
    else:
        ratio = seconds["pytorch float32"] / trial
        results.update(
            pytorch_s=round(seconds["pytorch float32"], 4), pytorch_ratio=round(ratio, 2)
        )
        print(
            f"  pytorch 2.13 CPU, 1 thr {seconds['pytorch float32']:7.3f} s   hpsearch is "
            f"{ratio:.2f}x faster   {_verdict(ratio >= 1.6)} (target >= 1.6x)"
        )
    return results


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


if __name__ == "__main__":
    main()
