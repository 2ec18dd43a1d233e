"""The parameter file's ``extra_sans:`` section, read into ``cucmkit.sans.ExtraSans``.

```yaml
extra_sans:
  tomcat:
    nodes: {cucm-pub: [portal.example.com, 192.0.2.10]}   # single-node CSRs: other domains, IPs allowed
    multi_server: [uc.example.com]                        # the multi-server CSR: extra FQDNs only
  cup-xmpp-s2s:
    multi_server: ["*.chat.example.com"]                  # wildcards: cup-xmpp-s2s only
```

Every entry is checked here, before anything touches a node: a purpose the catalogue does not know or
that is never CA-signed, ``multi_server`` entries for a purpose with no multi-server certificate, an IP
address in a multi-server list, a wildcard outside cup-xmpp-s2s, an invalid DNS name, a node the file
does not list or that does not carry the purpose. Errors name the key path and the remedy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from pydantic_core import PydanticCustomError

from cucmkit import catalogue
from cucmkit.sans import ExtraSans, IndexedSanProblem, PurposeSans, SanProblem, checked_entries

__all__ = ["extra_sans_section", "resolve_san_nodes"]

Bad = Callable[..., PydanticCustomError]     # params._bad(problem, remedy, *at)
_KEYS = ("nodes", "multi_server")


class _Node(Protocol):
    @property
    def fqdn(self) -> str: ...

    @property
    def short(self) -> str: ...

    @property
    def kind(self) -> str: ...


def extra_sans_section(value: Any, bad: Bad) -> ExtraSans:
    """The section checked entry by entry (nodes are resolved against the file's nodes afterwards)."""
    if value is None:
        return ExtraSans()
    if not isinstance(value, Mapping):
        raise bad(f"must be a mapping of certificate purposes (got {type(value).__name__})",
                  "write it as <purpose>: {nodes: {<node>: [names]}, multi_server: [names]}.")
    purposes: dict[str, PurposeSans] = {}
    for key, section in value.items():
        name = _purpose(key, bad)
        purposes[name] = _purpose_section(name, section, bad)
    return ExtraSans(MappingProxyType(purposes))


def _purpose(key: Any, bad: Bad) -> str:
    try:
        purpose = catalogue.get(str(key))
    except ValueError:
        raise bad("is not a certificate purpose", f"use one of: {', '.join(catalogue.names())}.", str(key)[:60]) \
            from None
    if not purpose.ca_signed:
        raise bad(f"{purpose.name} is never CA-signed, so it has no CSR to carry extra names",
                  "remove it.", str(key)[:60])
    return purpose.name


def _purpose_section(name: str, section: Any, bad: Bad) -> PurposeSans:
    purpose = catalogue.get(name)
    if not isinstance(section, Mapping) or not section:
        raise bad("must be a mapping with nodes and/or multi_server", "write {nodes: {<node>: [names]}} or "
                  "{multi_server: [names]}.", name)
    for key in section:
        if key not in _KEYS:
            raise bad("unknown key", f"use one of: {', '.join(_KEYS)}.", name, str(key)[:60])
    multi = section.get("multi_server")
    if multi is not None and not purpose.multi_server:
        allowed = ", ".join(p.name for p in catalogue.PURPOSES.values() if p.multi_server)
        raise bad(f"{name} has no multi-server certificate", f"list multi-server names only for: {allowed}.",
                  name, "multi_server")
    nodes = section.get("nodes") or {}
    if not isinstance(nodes, Mapping):
        raise bad("must map node names to lists of names", "write {cucm-pub: [portal.example.com]}.", name, "nodes")
    per_node = {str(node).lower(): _entries(entries, name, False, bad, name, "nodes", str(node))
                for node, entries in nodes.items()}
    return PurposeSans(nodes=MappingProxyType(per_node),
                       multi_server=_entries(multi, name, True, bad, name, "multi_server") if multi else ())


def _entries(values: Any, purpose: str, multi_server: bool, bad: Bad, *at: str) -> tuple[str, ...]:
    items = [values] if isinstance(values, str) else values
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)):
        raise bad("must be a list of host names" + ("" if multi_server else " or IP addresses"),
                  "write it as [portal.example.com].", *at)
    wildcard_ok = catalogue.get(purpose).wildcard_san
    try:
        return checked_entries(items, multi_server=multi_server, wildcard_ok=wildcard_ok, purpose=purpose)
    except IndexedSanProblem as exc:
        raise bad(exc.problem, exc.remedy, *at, exc.index) from None
    except SanProblem as exc:
        raise bad(exc.problem, exc.remedy, *at) from None


def resolve_san_nodes(extra: ExtraSans, nodes: Sequence[_Node], bad: Bad) -> ExtraSans:
    """Node keys (short name or FQDN) -> FQDN; a node the file does not list, or that lacks the purpose, is an
    error at ``extra_sans.<purpose>.nodes.<node>``."""
    if not any(s.nodes for s in extra.purposes.values()):
        return extra
    purposes: dict[str, PurposeSans] = {}
    for name, section in extra.purposes.items():
        resolved: dict[str, tuple[str, ...]] = {}
        for key, entries in section.nodes.items():
            node = next((n for n in nodes if key in (n.fqdn.lower(), n.short.lower())), None)
            if node is None:
                raise bad("is not a node of this file", "name a node listed under nodes (short name or FQDN).",
                          "extra_sans", name, "nodes", key)
            if name not in catalogue.units_for(node.kind):
                raise bad(f"{node.fqdn} ({node.kind}) has no {name} certificate", "list the nodes that carry it.",
                          "extra_sans", name, "nodes", key)
            resolved[node.fqdn.lower()] = resolved.get(node.fqdn.lower(), ()) + entries
        purposes[name] = PurposeSans(nodes=MappingProxyType(resolved), multi_server=section.multi_server)
    return ExtraSans(MappingProxyType(purposes))
