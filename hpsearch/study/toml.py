"""A stored study file written back as TOML: what `show` and reports print.

The text parses (`hpsearch.study.file.parse_study`) to the same spec it was written from.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hpsearch.study.spec import Narrowing


def spec_toml(spec: dict[str, Any]) -> str:
    """The stored study file written back as TOML (it parses to the same spec)."""
    narrowing = {k: v for k, v in spec.get("narrowing", {}).items() if k != "growth" or v != 1.0}
    lines = [
        f"name = {toml_value(spec['name'])}",
        f"seed = {toml_value(spec['seed'])}",
        "",
        "[data]",
    ]
    lines += [
        f"{key} = {toml_value(spec[key])}"
        for key in ("dataset", "n_samples", "val_fraction", "test_fraction", "data_dir")
        if spec.get(key) is not None
    ]
    lines += [
        "",
        "[train]",
        *[f"{toml_key(k)} = {toml_value(v)}" for k, v in spec["train"].items()],
    ]
    search = {
        "rounds": spec["rounds"],
        "trials_per_round": spec["trials_per_round"],
        **narrowing,  # with growth, written as search.growth
        "retries": spec["retries"],
        "sampler": spec.get("sampler"),
        "lower_when_diverged": spec.get("lower_when_diverged"),
        "objective": spec.get("objective"),
    }
    if narrowing.get("min_top") == Narrowing.min_top:
        # Left out at its default: written, a default above a small round's trials is refused
        del search["min_top"]
    if spec.get("round_trials"):
        del search["trials_per_round"]
    lines += [
        "",
        "[search]",
        *[f"{k} = {toml_value(v)}" for k, v in search.items() if v is not None],
    ]
    schedule = {"epochs": spec.get("round_epochs"), "trials": spec.get("round_trials")}
    if any(schedule.values()):
        lines += ["", "[search.schedule]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in schedule.items() if v]
    if spec.get("pruning"):
        lines += ["", "[search.pruning]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in spec["pruning"].items() if v is not None]
    if spec.get("final"):
        lines += ["", "[search.final]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in spec["final"].items()]
    for param in spec["params"]:
        lines += ["", f"[search.params.{toml_key(param['name'])}]"]
        if param["kind"] != "float":
            lines.append(f"type = {toml_value(param['kind'])}")
        if param["kind"] == "categorical":
            lines.append(f"choices = {toml_value(param['choices'])}")
            continue
        lines += [f"low = {toml_value(param['low'])}", f"high = {toml_value(param['high'])}"]
        lines += ["log = true"] if param["log"] else []
        lines += [f"limits = {toml_value(param['limits'])}"] if param.get("limits") else []
    return "\n".join(lines)


def toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)
