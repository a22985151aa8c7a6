"""Intervals and the final choice as `show` and `report` print them.

Every accuracy a study's views print is measured on a known number of images (the split's
sizes, stored by the run), so each gets its 95 % Wilson interval (`study.final.wilson`); a
mean over re-evaluation seeds gets the interval the run stored with it (`[search.final]`).
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.store.records import FINAL_KEY, SPLIT_KEY
from hpsearch.study.final import Z, wilson
from hpsearch.view import queries
from hpsearch.view.tables import Column
from hpsearch.view.text import acc, acc_in, fmt_value, interval, label

TITLE = "Final choice (validation accuracy; mean over new seeds, 95 % intervals)"


def split_sizes(data: queries.StudyData) -> dict[str, int]:
    """The images in the study's validation and test parts ({} when unknown): as the run
    stored them, else the validation part from the study file (a study of an older run)."""
    stored = data.user_attrs.get(SPLIT_KEY)
    if stored:
        return dict(stored)
    spec = data.spec
    if spec is None or spec.n_samples is None:
        return {}
    return {"val": math.floor(spec.val_fraction * spec.n_samples + 0.5)}  # as trainer.split


def final_record(data: queries.StudyData) -> dict[str, Any] | None:
    """The stored final choice, when the study file asks for one ([search.final])."""
    if data.spec is None or data.spec.final is None:
        return None
    return data.user_attrs.get(FINAL_KEY) or None


def final_columns(param_names: list[str]) -> list[Column]:
    return [
        Column("chosen", ""),
        Column("trial", "trial"),
        Column("round", "round"),
        *[Column(name, label(name), fmt_value, left=True) for name in param_names],
        Column("own", "own seed", left=True),
        Column("mean", "mean of new seeds", left=True),
        Column("std", "std", acc),
        Column("values", "new seeds", left=True),
    ]


def final_rows(record: dict[str, Any], n_val: int | None) -> list[dict[str, Any]]:
    """One row per re-evaluated configuration, in the order they ranked on their own score."""
    return [
        {
            "chosen": "chosen" if row["trial"] == record["chosen"] else "",
            "trial": row["trial"],
            "round": row["round"],
            **row["params"],
            "own": acc_in(row["val_accuracy"], n_val),
            "mean": f"{row['mean']:.3f} {interval(row['low'], row['high'])}",
            "std": row["std"],
            "values": " ".join(f"{v:.2f}" for v in row["values"]),
        }
        for row in record["configurations"]
    ]


def interval_fields(data: queries.StudyData, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (show's JSON) with intervals added beside its accuracies, never renaming one:
    `intervals` says how; `val_interval` in each top trial, `best_interval` and
    `median_interval` in each round, `val_interval`/`test_interval` in `test`; `final` the
    stored choice."""
    sizes = split_sizes(data)
    n_val, n_test = sizes.get("val"), sizes.get("test")
    n_round = n_val if queries.maximize(data) else None  # a round's best of a loss: no interval

    def around(value: Any, n: int | None) -> list[float] | None:
        if n is None or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return list(wilson(value, n))

    test = dict(payload["test"])
    if test.get("test_accuracy") is not None:
        test["val_interval"] = around(test.get("val_accuracy"), n_val)
        test["test_interval"] = around(test.get("test_accuracy"), n_test)
    return {
        **payload,
        "intervals": {"level": 0.95, "z": Z, "method": "wilson", "n_val": n_val, "n_test": n_test},
        "rounds": [
            {
                **r,
                "best_interval": around(r.get("best"), n_round),
                "median_interval": around(r.get("median"), n_round),
            }
            for r in payload["rounds"]
        ],
        "top": [
            {**trial, "val_interval": around(trial.get("val_accuracy"), n_val)}
            for trial in payload["top"]
        ],
        "test": test,
        "final": final_record(data),
    }
