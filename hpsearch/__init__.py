"""hpsearch: the hyperparameter search of "Deep Learning from Scratch" 6.5 as a service.

Study files in, Optuna studies (SQLite or PostgreSQL) out; `trainer` does the training.
One folder per concept, arrows pointing down only (import-linter checks it in `make lint`):

    cli/, console   the `hpsearch` command and a run's terminal output
    run/            what changes a study: coordinator, rounds, lock, workers, one trial, batch
    view/           read-only, never imports run/: queries, text, tables, documents, plots
    store/          the only code that knows Optuna's schema and private API
    study/          pure: the study file, its spec, search space and narrowing
    errors, timing  used by every layer: the error family and exit codes, every interval
"""

__version__ = "0.1.0"
