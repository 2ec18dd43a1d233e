"""The HTML page of an executed notebook, to attach to the change ticket: the board's first screen, then the cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cucmkit.errors import CucmKitError
from cucmkit.evidence.board import page, page_title
from cucmkit.evidence.record import ResultRecord

__all__ = ["render_html", "HIDDEN_TAGS"]

# cells the page leaves out: the runbook's parameter defaults (papermill's injected cell follows with the real values)
HIDDEN_TAGS = ("parameters",)


def render_html(nb: Any, path: Path, record: ResultRecord | None = None) -> Path:
    """Write ``nb`` as a standalone HTML page (nbconvert's lab template) to ``path``, with ``record``'s first
    screen on top and a title naming cluster, purpose and ticket."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS)
    config.TagRemovePreprocessor.enabled = True
    resources = {"metadata": {"name": page_title(record) if record else "cucmkit evidence"}}
    try:
        exporter = HTMLExporter(template_name="lab", config=config)  # type: ignore[no-untyped-call]
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    except Exception as exc:  # nbconvert raises many unrelated types; the message is ours
        raise CucmKitError(f"could not render the notebook as HTML ({type(exc).__name__})",
                           operation="render_html") from exc
    path.write_text(page(body, record) if record else body, encoding="utf-8")
    return path
