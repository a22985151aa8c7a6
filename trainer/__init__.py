"""A pure-NumPy trainer for the networks of "Deep Learning from Scratch", chapters 4 to 7.

It knows nothing of the search: `train(config, split, on_epoch)` is the whole contract.
"""

from trainer.config import ConfigError, EpochResult, History, TrainConfig
from trainer.data import DATASETS, Dataset, DatasetError, DatasetUnavailable, Split, load_dataset
from trainer.loop import train
from trainer.networks import hidden_activations
from trainer.splits import split

__all__ = [
    "DATASETS",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "DatasetUnavailable",
    "EpochResult",
    "History",
    "Split",
    "TrainConfig",
    "hidden_activations",
    "load_dataset",
    "split",
    "train",
]
