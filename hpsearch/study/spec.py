"""The study as data: `StudySpec` (a validated study file), its parameters and settings.

Frozen and JSON round-tripping (`to_dict` / `from_dict`): the dict is how a spec is stored in
its study and compared on resume. `hpsearch.study.file` builds one from TOML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from trainer import TrainConfig


@dataclass(frozen=True)
class ParamSpec:
    """One searched setting: a float or int range (optionally log-scaled) or categorical choices.

    `limits` are hard bounds that narrowing may extend a range up to, never past.
    """

    name: str
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    limits: tuple[float, float] | None = None


@dataclass(frozen=True)
class Narrowing:
    """Settings of the narrowing rule (see `hpsearch.narrowing`)."""

    top_fraction: float = 0.2
    min_top: int = 3
    margin: float = 0.1
    growth: float = 1.0  # > 1: the step past an edge grows while that edge stays crowded


@dataclass(frozen=True)
class Pruning:
    """When a trial stops early (see `hpsearch.study.schedule`): at each of `epochs`, a trial
    whose best validation accuracy so far is below the round's threshold at that epoch is
    pruned. `percentile`: the threshold is that percentile of the earlier rounds' completed
    trials at the same epoch (Optuna's PercentilePruner, judged against earlier rounds only);
    `threshold`: a fixed accuracy."""

    rule: str
    epochs: tuple[int, ...]
    percentile: float = 50.0
    threshold: float | None = None
    min_reference: int = 5


@dataclass(frozen=True)
class Final:
    """The noise-aware final choice (see `hpsearch.study.final`): the `top` best trials are
    trained again with `seeds` new seeds each, and the best mean is scored on the test split."""

    top: int = 3
    seeds: int = 5


# Fields added after the first stored studies: left out of the stored dict while they hold
# their defaults, so a study stored before them still matches its unchanged file.
_OPTIONAL: dict[str, Any] = {
    "round_epochs": (),
    "round_trials": (),
    "sampler": "random",
    "pruning": None,
    "lower_when_diverged": ("lr",),
    "objective": "val_accuracy",
    "final": None,
}
# What a study may optimise, and Optuna's direction for it: the final value of that curve.
OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}


@dataclass(frozen=True)
class StudySpec:
    name: str
    seed: int
    dataset: str
    n_samples: int | None
    val_fraction: float
    test_fraction: float
    data_dir: str | None
    train: dict[str, Any]
    rounds: int
    trials_per_round: int
    narrowing: Narrowing
    retries: int
    params: tuple[ParamSpec, ...]
    round_epochs: tuple[int, ...] = ()  # [search.schedule] epochs: one per round
    round_trials: tuple[int, ...] = ()  # [search.schedule] trials: one per round
    sampler: str = "random"  # random | tpe | gp | cmaes | qmc (see hpsearch.run.proposals)
    pruning: Pruning | None = None
    grid: bool = False  # every combination of the params' choices (hpsearch.study.grid)
    repeats: int = 1  # training seeds per grid point
    points: tuple[dict[str, Any], ...] = ()  # settings that go together, one grid axis
    final: Final | None = None  # [search.final]; None: the single best trial is tested
    lower_when_diverged: tuple[str, ...] = ("lr",)  # moved down when every trial diverged
    objective: str = "val_accuracy"  # or "val_loss": what a trial's value is, and its direction

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """Optuna's direction of the study's objective."""
        return "maximize" if self.maximize else "minimize"

    @property
    def maximize(self) -> bool:
        """Whether a higher value is better (the objective's Optuna direction)."""
        return OBJECTIVES[self.objective] == "maximize"

    @property
    def total_trials(self) -> int:
        return sum(self.trials_in(r) for r in range(self.rounds))

    def trials_in(self, round_number: int) -> int:
        """The number of trials (places) of round `round_number`."""
        return self.round_trials[round_number] if self.round_trials else self.trials_per_round

    def epochs_in(self, round_number: int) -> int | None:
        """The epochs a trial of round `round_number` trains; None: the [train] setting."""
        return self.round_epochs[round_number] if self.round_epochs else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict, the stored form of the study file (fields at their defaults left
        out, so that studies stored before those fields existed still match)."""
        data = _jsonable(dataclasses.asdict(self))
        for key, default in _OPTIONAL.items():
            if getattr(self, key) == default:
                del data[key]
        if self.narrowing.growth == 1.0:
            del data["narrowing"]["growth"]
        if not self.grid:
            del data["grid"], data["repeats"], data["points"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        fields = dict(data)
        fields["narrowing"] = Narrowing(**fields["narrowing"])
        fields["points"] = tuple(fields.get("points", ()))
        fields["params"] = tuple(
            ParamSpec(
                **{
                    **p,
                    "choices": tuple(p["choices"]),
                    "limits": tuple(p["limits"]) if p["limits"] else None,
                }
            )
            for p in fields["params"]
        )
        for key in ("round_epochs", "round_trials", "lower_when_diverged"):
            if key in fields:
                fields[key] = tuple(fields[key])
        if fields.get("pruning"):
            fields["pruning"] = Pruning(
                **{**fields["pruning"], "epochs": tuple(fields["pruning"]["epochs"])}
            )
        if fields.get("final"):
            fields["final"] = Final(**fields["final"])
        return cls(**fields)

    def train_config(
        self, params: dict[str, Any], seed: int, epochs: int | None = None
    ) -> TrainConfig:
        """The trainer's config for one trial: fixed settings, then the trial's parameters;
        `epochs` (its round's, from the schedule) replaces the fixed epochs."""
        extra = {"epochs": epochs} if epochs is not None else {}
        return TrainConfig(**{**self.train, **params, **extra, "seed": seed})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
