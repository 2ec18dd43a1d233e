#!/usr/bin/env python
"""Write the runbook notebooks in notebooks/ from the purpose catalogue (without outputs).

    python scripts/make_notebooks.py [--check]

The notebooks are built by ``cucmkit.runbooks`` (``cucmkit run`` executes a
pristine copy built there). ``--check`` exits 1 when a committed notebook says
something else than what this writes; what JupyterLab rewrites on open
(kernelspec, language_info, cell ids, outputs) is ignored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cucmkit.runbooks import (
    build,
    inventory_notebook,
    rotation_notebook,
    runbook_notebook,
    same_notebook,
    trust_notebook,
    watch_notebook,
)

__all__ = ["build", "runbook_notebook", "inventory_notebook", "trust_notebook", "rotation_notebook", "watch_notebook",
           "main"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if notebooks/ says something else")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for name, text in build().items():
        path = NOTEBOOKS / name
        if args.check:
            if not path.is_file() or not same_notebook(path.read_text(encoding="utf-8"), text):
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)} (run scripts/make_notebooks.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
