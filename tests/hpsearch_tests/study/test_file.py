"""Study files: the shipped ones load; every kind of bad input names file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hpsearch

from hpsearch.errors import StudyFileError
from hpsearch.study.file import load_study_file
from hpsearch.study.spec import StudySpec

STUDIES = Path(__file__).resolve().parents[3] / "studies"

VALID = """
name = "t"
seed = 1
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
epochs = 2
[search]
rounds = 2
trials_per_round = 4
[search.params.lr]
low = 1e-3
high = 1e-1
log = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["book.toml", "quick.toml"])
def test_shipped_study_files_load(name: str) -> None:
    spec = load_study_file(STUDIES / name)
    assert spec.total_trials > 0
    assert StudySpec.from_dict(spec.to_dict()) == spec


def test_book_study_is_the_books_experiment() -> None:
    spec = load_study_file(STUDIES / "book.toml")
    assert (spec.dataset, spec.n_samples, spec.val_fraction) == ("mnist-5k", 500, 0.2)
    assert spec.train["hidden_sizes"] == [100] * 6
    assert (spec.train["init"], spec.train["optimizer"], spec.train["batch_size"]) == (
        "he",
        "sgd",
        100,
    )
    ranges = {p.name: (p.low, p.high, p.log) for p in spec.params}
    assert ranges == {"lr": (1e-6, 1e-2, True), "weight_decay": (1e-8, 1e-4, True)}


def test_valid_file_parses_all_kinds_of_params(tmp_path: Path) -> None:
    text = (
        VALID
        + """
[search.params.batch_size]
type = "int"
low = 16
high = 128
log = true
[search.params.optimizer]
choices = ["sgd", "adam"]
"""
    )
    spec = load_study_file(write(tmp_path, text))
    kinds = {p.name: p.kind for p in spec.params}
    assert kinds == {"lr": "float", "batch_size": "int", "optimizer": "categorical"}


BAD_CASES = [
    # (replace this, with this, field named in the error, words in the error)
    ("epochs = 2", "epochs = 2\nepoch = 3", "train.epoch", "unknown field"),
    ("rounds = 2", "rounds = 2\nround = 3", "search.round", "unknown field"),
    ('dataset = "mnist-5k"', 'dataset = "cifar"', "data.dataset", "unknown dataset"),
    ("low = 1e-3", "low = 1e-1", "search.params.lr", "must be below high"),
    ("low = 1e-3\nhigh = 1e-1", "low = 1e-1\nhigh = 1e-1", "search.params.lr", "below high"),
    ("low = 1e-3", "low = 0.0", "search.params.lr.low", "log scale"),
    ("low = 1e-3", "low = -1.0", "search.params.lr.low", "log scale"),
    ("low = 1e-3", "low = nan", "search.params.lr.low", "finite"),
    ("high = 1e-1", "high = inf", "search.params.lr.high", "finite"),
    ("epochs = 2", 'epochs = "two"', "train.epochs", "must be an integer"),
    # exact types: a bool field only a TOML boolean, an int field only an integer
    ("epochs = 2", 'epochs = 2\nbatch_norm = "yes"', "train.batch_norm", "must be a boolean"),
    ("epochs = 2", "epochs = 2\nbatch_norm = 1", "train.batch_norm", "must be a boolean"),
    ("epochs = 2", "epochs = 2\npool_size = 2.5", "train.pool_size", "must be an integer"),
    ("epochs = 2", "epochs = 2\nconv_pad = 1.5", "train.conv_pad", "must be an integer"),
    ("epochs = 2", "epochs = 2.0", "train.epochs", "must be an integer"),
    ("epochs = 2", "epochs = 2\nmomentum = true", "train.momentum", "must be a number"),
    ("epochs = 2", "epochs = 2\npool_size = 0", "train.pool_size", "positive integer"),
    ("epochs = 2", "epochs = 2\nconv_pad = -1", "train.conv_pad", "non-negative integer"),
    (
        "[search.params.lr]",
        "[search.params.batch_norm]\nchoices = [true, 0]\n[search.params.lr]",
        "search.params.batch_norm.choices",
        "0 is not a boolean",
    ),
    (
        "[search.params.lr]",
        "[search.params.pool_size]\nlow = 1\nhigh = 3\n[search.params.lr]",
        "search.params.pool_size.type",
        'use type = "int"',
    ),
    ("trials_per_round = 4", "trials_per_round = 4.5", "search.trials_per_round", "integer"),
    ("trials_per_round = 4", "trials_per_round = -4", "search.trials_per_round", "at least 1"),
    ("trials_per_round = 4", "trials_per_round = 0", "search.trials_per_round", "at least 1"),
    ("trials_per_round = 4", "trials_per_round = 10000000", "search.trials_per_round", "at most"),
    ("log = true", 'log = "yes"', "search.params.lr.log", "must be a bool"),
    ('name = "t"', "", "name", "is required"),
    ('name = "t"', 'name = "  "', "name", "must not be empty"),
    ("trials_per_round = 4", "", "search.trials_per_round", "is required"),
    ("epochs = 2", "epochs = 2\nseed = 3", "train.seed", "top-level"),
    ("epochs = 2", "epochs = 2\nlr = 0.1", "search.params.lr", "also fixed"),
    (
        "[search.params.lr]",
        "[search.params.learning_rate]",
        "search.params.learning_rate",
        "not a trainer setting",
    ),
    ("epochs = 2", 'epochs = 2\noptimizer = "adamw"', "train.optimizer", "unknown value"),
    ("log = true", "log = true\nlimits = [1e-2, 1.0]", "search.params.lr.limits", "contain"),
    (
        "n_samples = 300",
        "n_samples = 300\nval_fraction = 1.5",
        "data.val_fraction",
        "between 0 and 1",
    ),
]


@pytest.mark.parametrize(("old", "new", "field", "words"), BAD_CASES)
def test_bad_field_names_file_field_and_problem(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}:"), message
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ("name = ", "not valid TOML"),
        ("this is not toml at all {", "not valid TOML"),
        ("\xff\xfe", "UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(StudyFileError, match=words):
        load_study_file(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(StudyFileError, match="no such file"):
        load_study_file(tmp_path / "nope.toml")
    with pytest.raises(StudyFileError, match="is a folder"):
        load_study_file(tmp_path)


CONVNET = """
name = "c"
[data]
dataset = "digits"
[train]
model = "convnet"
{train}
[search]
trials_per_round = 2
[search.params.lr]
low = 1e-3
high = 1e-1
{search}
"""


@pytest.mark.parametrize(
    ("train", "search", "field", "fix"),
    [
        ("conv_kernel = 40", "", "train.conv_kernel", "conv_kernel of at most 7"),
        ("pool_size = 9", "", "train.pool_size", "pool_size of at most 4"),
        ("conv_kernel = 9\nconv_stride = 2", "", "train.conv_kernel", "at most 6"),
        (
            "",
            '[search.params.conv_kernel]\ntype = "int"\nlow = 3\nhigh = 9',
            "search.params.conv_kernel",
            "at most 7",
        ),
        (
            "",  # narrowing may widen the range up to its limits: they must fit too
            '[search.params.conv_kernel]\ntype = "int"\nlow = 3\nhigh = 5\nlimits = [1, 8]',
            "search.params.conv_kernel",
            "at most 7",
        ),
        (
            "conv_kernel = 3",
            "[search.params.pool_size]\nchoices = [2, 7]",
            "search.params.pool_size",
            "pool_size of at most 6",
        ),
        (
            "conv_kernel = 8",
            '[search.params.conv_pad]\ntype = "int"\nlow = 0\nhigh = 2',
            "search.params.conv_pad",
            "conv_pad of at least 1",
        ),
        (
            "conv_kernel = 3",
            "[search.params.conv_stride]\nchoices = [1, 7]",
            "search.params.conv_stride",
            "conv_stride of at most 5",
        ),
    ],
)
def test_a_convnet_that_does_not_fit_the_images_is_refused_before_anything_is_stored(
    tmp_path: Path, train: str, search: str, field: str, fix: str
) -> None:
    """digits are 8×8: checked against the data, for every value a searched setting takes."""
    path = write(tmp_path, CONVNET.format(train=train, search=search))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = hpsearch("run", str(path), "--storage", url, "--jobs", "1")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert message.startswith(f"hpsearch: {path}: {field}: "), message
    assert "8×8 images of digits" in message and fix in message, message
    assert "\n" not in message
    assert not (tmp_path / "c.db").exists(), "nothing may be stored"


def test_a_convnet_that_fits_only_for_mlp_choices_is_checked_as_a_convnet(tmp_path: Path) -> None:
    text = CONVNET.format(train="", search='[search.params.model]\nchoices = ["mlp", "convnet"]')
    text = text.replace('model = "convnet"\n', "conv_kernel = 12\n")
    path = write(tmp_path, text)
    result = hpsearch("run", str(path), "--storage", f"sqlite:///{tmp_path / 'c.db'}")
    assert result.returncode == 2 and "train.conv_kernel: conv_kernel 12" in result.stderr


def test_list_valued_choices_are_refused_in_one_line_saying_what_to_do(tmp_path: Path) -> None:
    """Optuna stores only scalar choices; `hidden_sizes` layouts get one study file each."""
    from typer.testing import CliRunner

    from hpsearch.cli import app

    text = VALID.replace("hidden_sizes = [20]\n", "").replace(
        "[search.params.lr]",
        "[search.params.hidden_sizes]\nchoices = [[32], [64, 64], [100, 50]]\n[search.params.lr]",
    )
    path = write(tmp_path, text)
    result = CliRunner().invoke(
        app,
        ["run", str(path), "--storage", str(tmp_path / "x.db"), "--jobs", "0", "--timeout", "2s"],
    )
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert f"{path}: search.params.hidden_sizes.choices: " in message
    assert "not [32]" in message and "hidden_sizes in [train]" in message
    assert not (tmp_path / "x.db").exists()
