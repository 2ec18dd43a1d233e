"""Multi-server or per node: what a cluster has today, what the run asks for, and the explicit conversion.

A node's identity certificate is *multi-server* when its common name is CUCM's ``<host>-ms.<domain>`` or its SAN
names more than one node of the cluster (TAC 118731), else *per-node* (CUCM's "this-server" distribution).
Moving a cluster from one to the other is a planned choice: ``check_distribution`` refuses a run whose choice
differs from what the cluster has until the conversion is confirmed with a recorded reason
(the override ``convert_multi_server``), in both directions. Pure functions: the facts are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cucmkit.catalogue import Purpose
from cucmkit.renewal.checks import CONVERT_OVERRIDE, CheckResult

__all__ = ["MULTI_SERVER", "PER_NODE", "THIS_SERVER", "distribution_of", "describe", "check_distribution",
           "CONVERT_OVERRIDE", "GUARDS"]

MULTI_SERVER, THIS_SERVER, PER_NODE = "multi-server", "this-server", "per-node"
GUARDS = ("csr",)                      # decided once, before the first CSR; a resumed run keeps its choice


class _Identity(Protocol):
    @property
    def store(self) -> str: ...
    @property
    def common_name(self) -> str: ...
    @property
    def sans(self) -> tuple[str, ...]: ...


def distribution_of(record: _Identity, cluster_fqdns: Sequence[str] = ()) -> str:
    """``multi-server`` or ``this-server`` for an identity certificate, ``""`` for a trust certificate."""
    if record.store != "own":
        return ""
    names = {n.lower().removeprefix("dns:") for n in record.sans}
    nodes = sum(1 for fqdn in cluster_fqdns if fqdn.lower() in names)
    multi = record.common_name.split(".")[0].endswith("-ms") or nodes > 1
    return MULTI_SERVER if multi else THIS_SERVER


def describe(multi_server: bool) -> str:
    """How a run renews: ``multi-server`` or ``per-node`` (the words of the plan, the approval and the evidence)."""
    return MULTI_SERVER if multi_server else PER_NODE


def _word(distribution: str) -> str:
    return PER_NODE if distribution == THIS_SERVER else distribution


def check_distribution(purpose: Purpose, *, multi_server: bool, current: Mapping[str, str],
                       override: str | None = None) -> CheckResult:
    """Refuse a run whose choice (``multi_server``) differs from what ``current`` (node -> distribution of its
    certificate today) says, unless ``override`` (the recorded reason) confirms the conversion."""
    asked = describe(multi_server)
    if not purpose.multi_server:
        return CheckResult("distribution", "skipped", f"{purpose.name} is always per node", guards=GUARDS)
    differ = {node: _word(d) for node, d in sorted(current.items()) if d and _word(d) != asked}
    if not differ:
        have = ", ".join(sorted({_word(d) for d in current.values() if d})) or "no certificate yet"
        return CheckResult("distribution", "passed", f"{purpose.name}: {asked} asked, the cluster has {have}",
                           guards=GUARDS)
    nodes = "; ".join(f"{node} has {have}" for node, have in differ.items())
    reason = (f"{purpose.name}: the run asks for {asked} but the cluster has something else today ({nodes}); "
              f"renewing would convert it to {asked}")
    if override:
        return CheckResult("distribution", "overridden", reason, guards=GUARDS, override_reason=override)
    other = "--per-node" if multi_server else "--multi-server"
    keys = (f"remove {purpose.name} from the parameter file's multi_server list" if multi_server
            else f"add {purpose.name} to the parameter file's multi_server list")
    return CheckResult(
        "distribution", "failed", reason,
        f"to convert on purpose, confirm it: --override {CONVERT_OVERRIDE}=\"<reason>\" (recorded in the ledger and "
        f"the evidence); to keep what the cluster has, {keys} (or run with {other})", guards=GUARDS)
