"""The study as data: `StudySpec` (a validated study file), its parameters and settings.

Frozen and JSON round-tripping (`to_dict` / `from_dict`): the dict is how a spec is stored in
its study and compared on resume. `hpsearch.study.file` builds one from TOML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

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
    grid: bool = False  # every combination of the params' choices (hpsearch.study.grid)
    repeats: int = 1  # training seeds per grid point
    points: tuple[dict[str, Any], ...] = ()  # settings that go together, one grid axis

    @property
    def total_trials(self) -> int:
        return self.rounds * self.trials_per_round

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict, the stored form of the study file (without the grid fields
        when there is no grid, so that studies stored before them still match)."""
        data = _jsonable(dataclasses.asdict(self))
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
        return cls(**fields)

    def train_config(self, params: dict[str, Any], seed: int) -> TrainConfig:
        """The trainer's config for one trial: fixed settings, then the trial's parameters."""
        return TrainConfig(**{**self.train, **params, "seed": seed})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
