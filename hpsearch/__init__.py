"""hpsearch: the hyperparameter search of "Deep Learning from Scratch" 6.5 as a service.

Study files in, Optuna studies (SQLite or PostgreSQL) out; `trainer` does the training.
"""

__version__ = "0.1.0"
