"""Command-line interface (placeholder until the CLI issue lands: prints the version)."""

from __future__ import annotations

import sys

from gradscope._version import __version__


def main(argv: list[str] | None = None) -> int:
    print(f"gradscope {__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
