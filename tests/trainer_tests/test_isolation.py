"""The one seam: `trainer` knows nothing of the search. Importing it, loading data and training
in a fresh interpreter must not import optuna, sqlalchemy, typer, matplotlib or hpsearch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("optuna", "sqlalchemy", "typer", "matplotlib", "hpsearch")

IMPORTS = """
import trainer, trainer.config, trainer.conv, trainer.data, trainer.gradcheck, trainer.idx
import trainer.init, trainer.layers, trainer.loop, trainer.networks, trainer.optimizers
import trainer.cache, trainer.splits
"""

TRAINS = """
from trainer import TrainConfig, load_dataset, split, train
for name in ("digits", "mnist-5k"):
    data = split(load_dataset(name, cache_dir="."), n_samples=60, val_fraction=0.5, seed=0)
    for model in ("mlp", "convnet"):
        config = TrainConfig(model=model, hidden_sizes=(8,), conv_filters=2, conv_kernel=3,
                             epochs=1, batch_size=30)
        history = train(config, data, on_epoch=lambda result: None, score_test=True)
        assert history.test_accuracy is not None
"""

CHECK = """
import sys
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {forbidden!r})
assert not loaded, "imported: " + ", ".join(loaded)
"""


def run_fresh(code: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` then the sys.modules check in a new interpreter, in an empty data cache
    (the current folder) and with no HPSEARCH_* variable: the trainer reads none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    return subprocess.run(
        [sys.executable, "-c", code + CHECK.format(forbidden=set(FORBIDDEN))],
        capture_output=True, text=True, env=env, cwd=cache_dir, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("code", [IMPORTS, IMPORTS + TRAINS], ids=["import", "load-and-train"])
def test_trainer_does_not_import_the_search_side(code: str, tmp_path: Path) -> None:
    result = run_fresh(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # train never prints


def test_the_check_itself_catches_an_import(tmp_path: Path) -> None:
    result = run_fresh("import trainer, typer\n", tmp_path)
    assert result.returncode != 0 and "imported: typer" in result.stderr
