"""Search efficiency on the book's task: best validation accuracy against epochs spent.

The book's task (mnist-5k, 400 train / 100 validation, 784-100x6-10 ReLU, SGD, 50 epochs) and
its budget, 5,000 training epochs (pruned and low-fidelity epochs counted as trained), for
every searcher, with the same trainer and the same split of each data seed (the study seed
of book.toml; hpsearch's `load_split`):

- the book's random search: 100 trials from its ranges, lr 10^U(-6,-2), wd 10^U(-8,-4);
- `studies/book.toml` and `studies/efficient.toml`, run by `hpsearch run` (one worker, so
  trial numbers are the order of the epochs spent);
- Optuna's TPE alone, with its MedianPruner and with its HyperbandPruner, each from the book's
  ranges and from book.toml's limits (lr 1e-8..1, wd 1e-10..0.1), trials until the budget.

Per searcher: the mean best validation accuracy, the mean test accuracy of its choice (its
best trial trained again and scored on the test split), and the median epochs until the best
reached 0.83 and 0.88 (over the seeds that reached it). A figure of best validation accuracy
so far against epochs, one line per searcher (seed 0): search-efficiency.png.

python -m tests.benchmarks search-efficiency [--seeds N] [--only NAME ...]

`--only NAME` (repeatable) runs only the searchers whose name contains NAME (case-insensitive),
e.g. `--only efficient.toml`; the figure then holds only those.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

import trainer
from hpsearch.run.coordinator import run_study
from hpsearch.run.trial import load_split
from hpsearch.store.records import TEST_KEY
from hpsearch.study.file import load_study_file

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 5000
MARKS = (0.83, 0.88)
BOOK = {"lr": (1e-6, 1e-2), "weight_decay": (1e-8, 1e-4)}
LIMITS = {"lr": (1e-8, 1.0), "weight_decay": (1e-10, 0.1)}
TARGETS = {0.83: 400, 0.88: 700}
TEST_TARGET = 0.86

Curve = list[tuple[int, float]]  # (epochs spent, best validation accuracy so far)


@dataclasses.dataclass
class Run:
    curve: Curve
    test_accuracy: float | None


def hpsearch_run(file: str, seed: int, folder: Path) -> Run:
    spec = load_study_file(ROOT / "studies" / file)
    spec = dataclasses.replace(spec, seed=seed, name=f"{spec.name}-{seed}")
    url = f"sqlite:///{folder / f'{spec.name}.db'}"
    run_study(spec, url, jobs=1)
    study = optuna.load_study(study_name=spec.name, storage=url)
    trials = sorted(
        (t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)),
        key=lambda t: t.number,
    )
    values = [(int(t.user_attrs["epochs_run"]), _value(t)) for t in trials]
    return Run(_best_so_far(values), study.user_attrs.get(TEST_KEY, {}).get("test_accuracy"))


def optuna_run(
    seed: int, ranges: dict, pruner: optuna.pruners.BasePruner | None, random: bool = False
) -> Run:
    spec = load_study_file(ROOT / "studies" / "book.toml")
    spec = dataclasses.replace(spec, seed=seed)
    split = load_split(spec)
    spent: list[tuple[int, float]] = []
    sampler = (
        optuna.samplers.RandomSampler(seed) if random else optuna.samplers.TPESampler(seed=seed)
    )
    study = optuna.create_study(  # named: Hyperband's brackets hash the study's name
        study_name=f"optuna-seed-{seed}",
        direction="maximize",
        sampler=sampler,
        pruner=pruner or optuna.pruners.NopPruner(),
    )

    def objective(trial: optuna.Trial) -> float:
        params = {n: trial.suggest_float(n, *ranges[n], log=True) for n in ranges}
        config = spec.train_config(params, seed=seed * 100_003 + trial.number)
        seen: list[float] = []

        def report(result: trainer.EpochResult) -> None:
            seen.append(result.val_accuracy)
            trial.report(result.val_accuracy, result.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned

        try:
            history = trainer.train(config, split, report)
        except optuna.TrialPruned:
            spent.append((len(seen), max(seen)))
            raise
        value = 0.0 if history.diverged else history.val_accuracy
        spent.append((len(history.epochs), value))  # as hpsearch counts epochs_run
        return value

    def stop(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if sum(e for e, _ in spent) >= BUDGET:
            study.stop()

    trials = 100 if random else None
    study.optimize(objective, n_trials=trials, callbacks=[stop])
    best = study.best_trial
    config = spec.train_config(dict(best.params), seed=seed * 100_003 + best.number)
    test = trainer.train(config, split, score_test=True).test_accuracy
    return Run(_best_so_far(spent), test)


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """The trial's final validation accuracy (0 when diverged), whatever its objective: a
    `val_loss` study's value is the loss, its accuracy curve a user attribute."""
    if trial.user_attrs.get("diverged") or trial.value is None:
        return 0.0
    accuracy = trial.user_attrs.get("val_accuracy")  # absent in an accuracy study: its value
    return float(accuracy[-1]) if accuracy else float(trial.value)


def _best_so_far(values: list[tuple[int, float]]) -> Curve:
    curve, total, best = [], 0, 0.0
    for epochs, value in values:
        total, best = total + epochs, max(best, value)
        if total > BUDGET:
            break
        curve.append((total, best))
    return curve


def _reached(curve: Curve, mark: float) -> int | None:
    return next((epochs for epochs, best in curve if best >= mark - 1e-9), None)


SEARCHERS: dict[str, Callable[[int, Path], Run]] = {
    "the book: random, its ranges": lambda s, f: optuna_run(s, BOOK, None, random=True),
    "hpsearch book.toml": lambda s, f: hpsearch_run("book.toml", s, f),
    "hpsearch efficient.toml": lambda s, f: hpsearch_run("efficient.toml", s, f),
    "Optuna TPE, book's ranges": lambda s, f: optuna_run(s, BOOK, None),
    "Optuna TPE + median, book's ranges": lambda s, f: optuna_run(
        s, BOOK, optuna.pruners.MedianPruner(5, 5)
    ),
    "Optuna TPE + Hyperband, book's ranges": lambda s, f: optuna_run(
        s, BOOK, optuna.pruners.HyperbandPruner(1, 50)
    ),
    "Optuna TPE, the limits": lambda s, f: optuna_run(s, LIMITS, None),
    "Optuna TPE + median, the limits": lambda s, f: optuna_run(
        s, LIMITS, optuna.pruners.MedianPruner(5, 5)
    ),
    "Optuna TPE + Hyperband, the limits": lambda s, f: optuna_run(
        s, LIMITS, optuna.pruners.HyperbandPruner(1, 50)
    ),
}


def selected(only: list[str] | None) -> dict[str, Callable[[int, Path], Run]]:
    """The searchers whose name contains one of `only` (case-insensitive); all for None."""
    if not only:
        return dict(SEARCHERS)
    chosen = {
        name: searcher
        for name, searcher in SEARCHERS.items()
        if any(part.lower() in name.lower() for part in only)
    }
    if not chosen:
        raise SystemExit(
            f"--only {' '.join(only)}: no searcher; choose from {', '.join(SEARCHERS)}"
        )
    return chosen


def main(seeds: int = 3, only: list[str] | None = None) -> dict:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    searchers = selected(only)
    print(
        f"\nsearch-efficiency: the book's task, {BUDGET} epochs per searcher, {seeds} data seed(s)"
    )
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory() as folder, threadpool_limits(limits=1):
        for name, searcher in searchers.items():
            results[name] = [searcher(seed, Path(folder)) for seed in range(seeds)]
            print(_row(name, results[name]), flush=True)
    _figure(results, ROOT / "search-efficiency.png")
    print(f"figure: {ROOT / 'search-efficiency.png'}")
    return {name: _summary(runs) for name, runs in results.items()}


def _summary(runs: list[Run]) -> dict:
    best = [r.curve[-1][1] if r.curve else 0.0 for r in runs]
    tests = [r.test_accuracy for r in runs if r.test_accuracy is not None]
    reached = {
        str(mark): [e for e in (_reached(r.curve, mark) for r in runs) if e is not None]
        for mark in MARKS
    }
    return {
        "best_val": statistics.mean(best),
        "test": statistics.mean(tests) if tests else None,
        "epochs_until": {
            m: (statistics.median(v) if v else None, len(v)) for m, v in reached.items()
        },
        "runs": len(runs),
    }


def _row(name: str, runs: list[Run]) -> str:
    s = _summary(runs)
    until = "  ".join(
        f">={m}: {'never' if e is None else f'{e:.0f} ({n} of {len(runs)})'}"
        for m, (e, n) in s["epochs_until"].items()
    )
    test = "-" if s["test"] is None else f"{s['test']:.3f}"
    return f"  {name:40s} best val {s['best_val']:.3f}  test {test}  epochs {until}"


def _figure(results: dict[str, list[Run]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.5))
    for name, runs in results.items():
        curve = runs[0].curve
        if curve:
            axes.step(
                [0] + [e for e, _ in curve], [0] + [b for _, b in curve], where="post", label=name
            )
    axes.set_xlabel("training epochs spent")
    axes.set_ylabel("best validation accuracy so far")
    axes.set_xlim(0, BUDGET)
    axes.set_ylim(0, 1)
    for mark in MARKS:
        axes.axhline(mark, color="grey", lw=0.5, ls=":")
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title("The book's task, data seed 0")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", action="append", metavar="NAME", help="searchers to run")
    arguments = parser.parse_args()
    main(arguments.seeds, arguments.only)
