"""A round's parameter sets: sampled at random, or proposed by one of Optuna's samplers.

`random` (the default, the book's procedure) draws from the round's own Generator. The others
are Optuna's samplers (TPE, GP, CMA-ES, QMC/Sobol), seeded by the study seed and the round,
fitted to an in-memory Optuna study that holds the finished trials of the earlier rounds only
(those inside the round's ranges, registered with the round's distributions, so every
sampler sees one search space), and asked for the whole round at once, within the round's
ranges. So the proposals depend on the study seed, the round and earlier rounds, never on the
trials running now: the same with any number of workers, and after any crash.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from hpsearch.store.records import RoundRecord, finished_by_index, round_trials, score
from hpsearch.study.space import distributions, round_generator, sample
from hpsearch.study.spec import StudySpec

DIVERGED_LOSS = 100.0  # chance on 10 classes is ln 10 = 2.3; a finite stand-in for a blown loss


def propose(
    study: optuna.Study, spec: StudySpec, record: RoundRecord, records: dict[int, RoundRecord]
) -> list[dict[str, Any]]:
    """The parameter sets of `record`'s round, one per place, in place order."""
    count = spec.trials_in(record.number)
    if spec.sampler == "random" or (record.number == 0 and spec.sampler != "qmc"):
        rng = round_generator(spec.seed, record.number)
        return sample(spec.params, record.ranges, rng, count)
    dists = distributions(spec.params, record.ranges)
    seed = int(np.random.SeedSequence([spec.seed, record.number, 0x5A3]).generate_state(1)[0])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature and fallback notices
        fitted = optuna.create_study(
            direction=spec.direction, sampler=_sampler(spec.sampler, seed)
        )
        trials = study.get_trials(deepcopy=False)
        for number in range(record.number):
            for trial in finished_by_index(round_trials(trials, number)).values():
                if _inside(trial.params, dists):
                    fitted.add_trial(_history(trial, dists, spec.maximize))
        return [_asked(fitted, dists) for _ in range(count)]


def _asked(fitted: optuna.Study, dists: dict[str, BaseDistribution]) -> dict[str, Any]:
    trial = fitted.ask(fixed_distributions=dists)
    return {name: trial.params[name] for name in dists}


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, consider_pruned_trials=True)
    return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)


def _inside(params: dict[str, Any], dists: dict[str, BaseDistribution]) -> bool:
    for name, dist in dists.items():
        if name not in params:
            return False
        value = params[name]
        if isinstance(dist, CategoricalDistribution):
            if value not in dist.choices:
                return False
        elif not dist.low <= value <= dist.high:  # type: ignore[attr-defined]
            return False
    return True


def _history(
    trial: optuna.trial.FrozenTrial, dists: dict[str, BaseDistribution], maximize: bool = True
) -> Any:
    """An earlier trial as the fitted study holds it: pruned ones as pruned, with their curve;
    diverged ones as complete with an accuracy of 0 (they learned nothing), or a loss of
    `DIVERGED_LOSS` (worse than chance on any of the data sets)."""
    params = {name: trial.params[name] for name in dists}
    if trial.state == TrialState.PRUNED:
        return optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=dists,
            value=trial.value,
            intermediate_values=dict(trial.intermediate_values),
        )
    value = score(trial)
    if value is None:
        value = 0.0 if maximize else DIVERGED_LOSS
    return optuna.trial.create_trial(params=params, distributions=dists, value=value)
