"""What notebook helpers show, in one place: objects, Markdown and PNG images.

In a kernel these go through IPython's display; outside one (a script, a test)
they print a plain stand-in, so the helpers that call them never need IPython.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["approval_button", "markdown", "png", "show"]


def show(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:
        print(obj)
        return
    display(obj)  # type: ignore[no-untyped-call]


def markdown(text: str) -> None:
    try:
        from IPython.display import Markdown
    except ImportError:
        print(text)
        return
    show(Markdown(text))  # type: ignore[no-untyped-call]


def png(data: bytes) -> None:
    try:
        from IPython.display import Image
    except ImportError:
        print(f"[figure: {len(data)} bytes of PNG]")
        return
    show(Image(data=data, format="png"))  # type: ignore[no-untyped-call]


def approval_button(label: str, waiting: str, approve: Callable[[], str]) -> Any:
    """A red button that calls ``approve`` once (it records the approval and returns the text to show)."""
    import ipywidgets as widgets

    button = widgets.Button(description=label, button_style="danger", layout=widgets.Layout(width="auto"))
    note = widgets.HTML(waiting)

    def clicked(_: Any) -> None:
        note.value = approve()
        button.disabled = True

    button.on_click(clicked)
    box = widgets.VBox([button, note])
    show(box)
    return box
