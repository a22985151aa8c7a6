"""Trainer settings checked before anything is stored: exact types, and the convnet's geometry
against the data's images for every value a searched parameter can take.

A setting that cannot work must fail as one line naming the file, the field and the fix, not
as a "complete" study of failed trials. Both checks raise `StudyFileError` (exit 2).
"""

from __future__ import annotations

import itertools
import math
import typing
from pathlib import Path
from typing import Any

from hpsearch.errors import StudyFileError, did_you_mean
from hpsearch.study.spec import ParamSpec, StudySpec
from trainer import DATASETS, TrainConfig
from trainer.conv import output_size

GEOMETRY = ("conv_kernel", "pool_size", "conv_stride", "conv_pad")  # the order fields are blamed
_WANTS = {
    "bool": "a boolean (true or false)",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "tuple": "a list of integers",
}


def _field_types() -> dict[str, str]:
    """TrainConfig's fields and their types' names: bool, int, float, str, tuple."""
    hints = typing.get_type_hints(TrainConfig)
    return {name: getattr(hint, "__name__", str(hint)) for name, hint in hints.items()}


def _fits(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, list | tuple)


def _type_name(kind: str) -> str:
    return _WANTS.get(kind, kind)


def check_types(train: dict[str, Any], params: tuple[ParamSpec, ...], where: str) -> None:
    """Each fixed value, range and choice has exactly its TrainConfig field's type."""
    types = _field_types()
    for name, value in train.items():
        kind = types[name]
        if not _fits(kind, value):
            raise StudyFileError(
                where, f"train.{name}", f"must be {_type_name(kind)}, got {value!r}"
            )
    for param in params:
        kind, field = types[param.name], f"search.params.{param.name}"
        if param.kind == "categorical":
            for choice in param.choices:
                if not _fits(kind, choice):
                    raise StudyFileError(
                        where,
                        f"{field}.choices",
                        f"{choice!r} is not {_type_name(kind)}; every choice must be one",
                    )
        elif kind not in ("int", "float") or (kind == "int" and param.kind == "float"):
            wanted = 'type = "int"' if kind == "int" else "choices = [...]"
            raise StudyFileError(
                where,
                f"{field}.type",
                f"{param.name} takes {_type_name(kind)}, not a {param.kind} range; use {wanted}",
            )


def _candidates(spec: StudySpec, name: str) -> tuple[list[Any], bool]:
    """Every value setting `name` can take in the study, and whether it is searched."""
    for param in spec.params:
        if param.name == name:
            if param.kind == "categorical":
                return list(param.choices), True
            low, high = param.limits or (param.low, param.high)
            return sorted({int(low or 0), int(high or 0)}), True
    default = TrainConfig.__dataclass_fields__[name].default
    return [spec.train.get(name, default)], False


def check_geometry(spec: StudySpec, image_shape: tuple[int, ...], where: str) -> None:
    """Every convnet the study can build fits `image_shape` (C, H, W): the convolution leaves
    at least one pool window. The output shrinks as kernel, stride and pool grow and pad
    shrinks, so checking each combination of the searched bounds and choices suffices."""
    models, _ = _candidates(spec, "model")
    if "convnet" not in models:
        return
    side = min(image_shape[1:])
    values = {name: _candidates(spec, name) for name in GEOMETRY}
    for combo in itertools.product(*(values[name][0] for name in GEOMETRY)):
        geometry = dict(zip(GEOMETRY, combo, strict=True))
        kernel, pool, stride, pad = (geometry[name] for name in GEOMETRY)
        if pool < 1 or stride < 1 or kernel < 1 or pad < 0:
            continue  # refused by the trainer's own checks, with their field
        out = output_size(side, kernel, stride, pad)
        if out >= pool:
            continue
        # The field to change: a searched one if any, else one the file sets, one that can fix it
        searched = [n for n in GEOMETRY if values[n][1]]
        suspects = searched or [n for n in GEOMETRY if n in spec.train] or ["conv_kernel"]
        blamed = next((n for n in suspects if _fix(n, side, geometry)), suspects[0])
        section = "search.params" if values[blamed][1] else "train"
        data = Path(spec.dataset).name
        others = ", ".join(f"{n} {geometry[n]}" for n in GEOMETRY if n != blamed)
        raise StudyFileError(
            where,
            f"{section}.{blamed}",
            f"{blamed} {geometry[blamed]} does not fit the {image_shape[1]}×{image_shape[2]} "
            f"images of {data} (with {others} the convolution leaves {max(out, 0)} pixels a "
            f"side, fewer than the {pool}×{pool} pool); "
            + (_fix(blamed, side, geometry) or "use a smaller conv_kernel or pool_size"),
        )


def _fix(name: str, side: int, geometry: dict[str, int]) -> str | None:
    """How to change setting `name` alone so that the convolution fits (None: it cannot)."""
    kernel, pool, stride, pad = (geometry[n] for n in GEOMETRY)
    room = side + 2 * pad - kernel  # what the kernel leaves, before the stride
    if name == "conv_kernel" and side + 2 * pad - (pool - 1) * stride >= 1:
        return f"use a conv_kernel of at most {side + 2 * pad - (pool - 1) * stride}"
    if name == "pool_size" and room >= 0:
        return f"use a pool_size of at most {room // stride + 1}"
    if name == "conv_pad":
        return f"use a conv_pad of at least {math.ceil(((pool - 1) * stride - room) / 2)}"
    if name == "conv_stride" and pool > 1 and room >= pool - 1:
        return f"use a conv_stride of at most {room // (pool - 1)}"
    return None


def dataset_field(dataset: str, where: str) -> str:
    """`data.dataset`: a name, or a path made absolute (relative paths start at the study
    file's folder)."""
    if dataset in DATASETS:
        return dataset
    path = Path(where).parent / Path(dataset).expanduser()
    if not path.exists():
        raise StudyFileError(
            where,
            "data.dataset",
            f"unknown dataset {dataset!r}: not one of "
            f"{', '.join(DATASETS)}, and no file {path}"
            + (
                did_you_mean(dataset, DATASETS)
                or "; give a name or the path of a .npz or IDX file"
            ),
        )
    return str(path.resolve())
