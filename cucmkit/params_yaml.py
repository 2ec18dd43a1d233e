"""Reading a parameter file's YAML within budgets, and quoting values shortened in messages.

Budgets (each refusal is a ParameterError naming the fix, never a traceback):
- bytes read: at most ``MAX_BYTES`` (counted while reading, whatever size the OS reports);
- text: UTF-8 only (a UTF-16 or Latin-1 file is named as such);
- nesting: at most ``MAX_DEPTH`` levels; expanded size (aliases counted each time they are used):
  at most ``MAX_NODES`` nodes, so an alias bomb is refused before anything walks it;
- safe tags only, no timestamp coercion, no duplicate keys, keys are plain scalars;
  merge keys (``<<: *anchor``) are supported.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml

from cucmkit.errors import ParameterError

__all__ = ["load_yaml", "quote", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES"]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
_QUOTE = 40
_BRACKETS = re.compile(r"[\[\]{}]")


def quote(value: Any, limit: int = _QUOTE) -> str:
    """``repr(value)`` shortened to about ``limit`` characters (never the whole of a huge value)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"a {value.bit_length()}-bit number"
    if isinstance(value, (dict, list, tuple, set)):
        return f"a {type(value).__name__}"
    if isinstance(value, str):
        value = value[: limit + 1]          # never repr a huge string whole
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _BudgetLoader(yaml.SafeLoader):
    """SafeLoader without timestamps (like papermill's), refusing duplicate keys, deep nesting and alias bombs."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ParameterError(f"nested more than {MAX_DEPTH} levels deep at line {mark.line + 1}",
                                     remedy="a parameter file is a few levels deep; flatten it.")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expanded(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise ParameterError(f"a key at line {key_node.start_mark.line + 1} is a list or a mapping",
                                     remedy="keys are plain names (key: value).")
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParameterError(f"duplicate key {quote(key)} at line {key_node.start_mark.line + 1}",
                                     remedy="keep one of them.")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a document whose nodes, counting every use of an alias, exceed MAX_NODES."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if done:
            sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    if sizes[id(root)] > MAX_NODES:
        raise ParameterError(f"expands to more than {MAX_NODES} values (aliases *name repeat what they point to)",
                             remedy="write the values out; a parameter file is a few hundred values.")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _read(path: Path) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ParameterError(f"parameter file {path} cannot be read ({exc.strerror or type(exc).__name__})",
                             remedy="check the path given with -f / parameters_file.") from None
    if len(data) > MAX_BYTES:
        raise ParameterError(f"parameter file {path} is larger than {MAX_BYTES // 1024} KiB",
                             remedy="give the cluster's parameter file (a few KiB), not another file.")
    return data


def _decode(data: bytes, path: Path) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (len(data) > 1 and b"\x00" in data[:64]):
        raise ParameterError(f"parameter file {path} is UTF-16 (or binary), not UTF-8",
                             remedy="save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"parameter file {path} is not UTF-8 (byte {exc.start}; Latin-1 or Windows-1252?)",
                             remedy="save it as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`).") from None


def _flow_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest (quotes ignored): PyYAML's scanner slows down with each open level."""
    depth = peak = 0
    for match in _BRACKETS.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        peak = max(peak, depth)
    return peak


def load_yaml(path: Path) -> Any:
    """Read a YAML file safely within the budgets; errors give line and column, never the line's text."""
    text = _decode(_read(path), path)
    if _flow_depth(text) > 2 * MAX_DEPTH:
        raise ParameterError(f"parameter file {path} is nested more than {MAX_DEPTH} levels deep ([ and {{)",
                             remedy="a parameter file is a few levels deep; flatten it.")
    try:
        return yaml.load(text, Loader=_BudgetLoader)  # noqa: S506 - a SafeLoader subclass
    except ParameterError as exc:
        raise ParameterError(f"parameter file {path}: {exc.message}", remedy=exc.remedy) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(exc.problem or "")[:120]
        raise ParameterError(f"parameter file {path} is not valid YAML{at}: {problem}",
                             remedy="fix the YAML syntax there.") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"parameter file {path} is not valid YAML ({type(exc).__name__})",
                             remedy="fix the YAML syntax.") from None
    except RecursionError:
        raise ParameterError(f"parameter file {path} is nested too deeply", remedy="flatten it.") from None
    except (ValueError, OverflowError, IndexError, KeyError, AttributeError, TypeError) as exc:
        # PyYAML's constructors fail this way on an int longer than Python reads, on `!!int ""`,
        # `!!timestamp x`, `!!map [a]`, ...: a value the file's YAML cannot stand for.
        detail = str(exc)[:80] if isinstance(exc, (ValueError, OverflowError)) else type(exc).__name__
        raise ParameterError(f"parameter file {path} holds a value YAML cannot read ({detail})",
                             remedy="write plain numbers and strings without !! tags (a port is at most 5 digits).") from None
