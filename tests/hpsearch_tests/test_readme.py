"""The README's command reference stays in step with the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from hpsearch.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_command_and_option_is_in_the_readme() -> None:
    text = README.read_text()
    group = typer.main.get_command(app)
    missing = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if f"`hpsearch {name}" not in text:
            missing.append(f"hpsearch {name}")
        for parameter in command.params:
            long = [o for o in parameter.opts if o.startswith("--")]
            if long and not re.search(re.escape(long[0]) + r"(?![\w-])", text):
                missing.append(f"hpsearch {name} {long[0]}")
    assert not missing, f"README.md does not document: {', '.join(missing)}"
