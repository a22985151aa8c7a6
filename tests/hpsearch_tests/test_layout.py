"""The layout's rules that import-linter cannot see (its contracts run in `make lint` too):
Optuna's private API is used in `hpsearch.store` only, and modules (hpsearch's and trainer's)
stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hpsearch"
STORE = PACKAGE / "store"
MAX_MODULE_LINES = 300


def modules(root: Path = PACKAGE) -> list[Path]:
    return sorted(root.rglob("*.py"))


def private_uses(path: Path) -> list[str]:
    """`x._name` attribute reads (not on self or cls) and imports of `_private` Optuna parts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna"):
            names = [*(node.module or "").split("."), *(a.name for a in node.names)]
            if any(_private(name) for name in names):
                found.append(f"{path.name}:{node.lineno}: from {node.module} import ...")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_only_store_touches_optunas_private_api() -> None:
    outside = [p for p in modules() if STORE not in p.parents]
    assert [use for path in outside for use in private_uses(path)] == []


def test_the_check_sees_a_private_use(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from optuna.storages._rdb import models\n"
        "def f(study, storage):\n"
        "    return study._study_id, storage._get_stale_trial_ids(1), self._ok\n"
    )
    assert [use.split(": ")[1] for use in private_uses(sample)] == [
        "from optuna.storages._rdb import ...",
        "._study_id",
        "._get_stale_trial_ids",
    ]


@pytest.mark.parametrize(
    "path", modules() + modules(ROOT / "trainer"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines; split it by concept"
