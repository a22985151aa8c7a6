"""A dataset file is known by its content: moving the project folder does not block resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import hpsearch

STUDY = """
name = "moved"
seed = 1
[data]
dataset = "data/pixels.npz"
val_fraction = 0.5
[train]
hidden_sizes = [4]
epochs = 2
[search]
rounds = {rounds}
trials_per_round = 3
min_top = 2
[search.params.lr]
low = 1e-3
high = 0.1
log = true
"""


def images(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.random((40, 4, 4), dtype=np.float32), "y": np.array([0, 1] * 20)}


def run(folder: Path, url: str, rounds: int) -> tuple[int, str]:
    (folder / "study.toml").write_text(STUDY.format(rounds=rounds))
    done = hpsearch("run", "study.toml", "--storage", url, "--jobs", "1", cwd=folder)
    return done.returncode, done.stderr


def test_a_moved_project_folder_resumes_and_changed_data_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    np.savez(project / "data" / "pixels.npz", **images(0))
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert run(project, url, rounds=1)[0] == 0

    moved = project.rename(tmp_path / "moved")
    code, err = run(moved, url, rounds=1)
    assert code == 0, err
    code, err = run(moved, url, rounds=2)  # its workers read the data at the new place
    assert code == 0, err

    np.savez(moved / "data" / "pixels.npz", **images(1))
    code, err = run(moved, url, rounds=3)
    assert code == 1 and "data.dataset: " in err and "not the data the study began" in err, err
