"""Shared helpers of the CLI tests: a clean environment, ``invoke``, and the bad-input contract."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from gradscope import cli

#: A clean environment for rich: no colour forcing, no debug, no quick gallery, 80 columns.
ENV: dict[str, str | None] = {
    "NO_COLOR": None,
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "COLUMNS": "80",
    "GRADSCOPE_DEBUG": None,
    cli.REPORT_QUICK_ENV: None,
    "LANGUAGE": "en",  # English, whatever the machine's locale; a test that wants Chinese overrides it
}


def invoke(*args: str, env: dict[str, str | None] | None = None, **kwargs: Any) -> Any:
    """Run ``gradscope ARGS`` in-process in the clean environment (``env`` adds or overrides)."""
    return CliRunner().invoke(cli.app, list(args), env=ENV | (env or {}), **kwargs)


def assert_bad_input(result: Any, *fragments: str) -> None:
    """Exit code 2, one ``gradscope: error:`` line on stderr holding ``fragments``, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gradscope: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
