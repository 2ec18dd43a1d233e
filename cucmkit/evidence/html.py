"""The HTML rendering of an executed notebook, to attach to the change ticket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cucmkit.errors import CucmKitError

__all__ = ["render_html"]


def render_html(nb: Any, path: Path) -> Path:
    """Write ``nb`` as a standalone HTML page (nbconvert's lab template) to ``path``."""
    from nbconvert import HTMLExporter

    try:
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbconvert raises many unrelated types; the message is ours
        raise CucmKitError(f"could not render the notebook as HTML ({type(exc).__name__})",
                           operation="render_html") from exc
    path.write_text(body, encoding="utf-8")
    return path
