"""``cucmkit inventory``, ``cucmkit trust fetch`` and ``cucmkit trust accept`` (the trust lifecycle
sub-commands, ``trust list|stale|clean|export|partners|rotate``, live in ``cucmkit.trust.command``).

    cucmkit inventory -f parameters/lab.yaml [--json | --csv] [--threshold DAYS]
    cucmkit trust fetch -f parameters/lab.yaml
    cucmkit trust accept -f parameters/lab.yaml [--node NAME ...] [--yes]

``trust fetch`` shows what each node serves (TLS chain, SSH host keys) and
never logs in. ``trust accept`` shows the SSH host key fingerprints again and,
once the engineer confirms them (checked out of band), appends them to the
parameter file's ``ssh.known_hosts`` file (creating it); it never edits the
YAML file and never replaces a key that is already there with another one.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import paramiko

from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.cucm._http import check_trust, fetch_server_certificate
from cucmkit.cucm.cli import add_known_hosts, fetch_ssh_host_keys, host_key_fingerprint, known_host_fingerprints
from cucmkit.errors import CucmKitError, ParameterError
from cucmkit.params import ClusterParams, NodeParams, days_argument, load_parameters

__all__ = ["register", "inventory_rows", "distribution", "COLUMNS"]

COLUMNS = ("node", "store", "purpose", "filename", "common_name", "issuer", "serial", "not_after",
           "days_left", "self_signed", "key", "fingerprint_sha256", "flag", "distribution")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    inv = subparsers.add_parser("inventory", help="list every certificate of every node (own and trust)")
    inv.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    fmt = inv.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON array of rows")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    inv.add_argument("--threshold", type=days_argument, default=None, metavar="DAYS",
                     help="flag certificates expiring within DAYS (default: expiry_threshold_days)")
    inv.set_defaults(func=_inventory)

    trust = subparsers.add_parser("trust", help="TLS trust helpers")
    trust_sub = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    fetch = trust_sub.add_parser("fetch", help="show each node's served certificate chain, fingerprints "
                                 "and SSH host key fingerprints")
    fetch.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    fetch.set_defaults(func=_trust_fetch)
    accept = trust_sub.add_parser("accept", help="after you checked them out of band, write the nodes' SSH host "
                                  "keys to the parameter file's ssh.known_hosts file")
    accept.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    accept.add_argument("--node", action="append", default=[], metavar="NAME",
                        help="only this node (FQDN or short name; repeatable); default: every node")
    accept.add_argument("--yes", action="store_true",
                        help="do not ask: the fingerprints shown were checked out of band")
    accept.set_defaults(func=_trust_accept)
    from cucmkit.trust.command import register_trust  # list, stale, clean, export, partners, rotate

    register_trust(trust_sub)


def _fail(exc: CucmKitError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


# -- inventory ---------------------------------------------------------------------------


def distribution(record: CertRecord, cluster_fqdns: Sequence[str] = ()) -> str:
    """How an identity is deployed today: "multi-server" (CUCM's ``-ms`` common name, or the SAN names more
    than one node of the cluster), "this-server", or "" for a trust certificate (``renewal.distribution``)."""
    from cucmkit.renewal.distribution import distribution_of

    return distribution_of(record, cluster_fqdns)


def inventory_rows(records: Sequence[CertRecord], *, now: dt.datetime, threshold: int,
                   cluster_fqdns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One flat row per certificate, flagged EXPIRED or EXPIRING within ``threshold`` days; ``distribution``
    says whether an identity is multi-server or per node (``cluster_fqdns``: the cluster's nodes)."""
    rows = []
    for r in records:
        days = r.days_left(now)
        flag = "EXPIRED" if days < 0 else ("EXPIRING" if days < threshold else "")
        rows.append({
            "node": r.node, "store": r.store, "purpose": r.purpose, "filename": r.filename,
            "common_name": r.common_name, "issuer": r.issuer, "serial": format(r.serial, "x"),
            "not_after": r.not_after.isoformat(), "days_left": round(days, 1), "self_signed": r.self_signed,
            "key": f"{r.key_type} {r.key_size}", "fingerprint_sha256": r.fingerprint_sha256, "flag": flag,
            "distribution": distribution(r, cluster_fqdns),
        })
    return rows


def _inventory(args: argparse.Namespace) -> int:
    from cucmkit.cucm.node import Cluster  # imported here so `cucmkit --help` stays light

    try:
        params = load_parameters(args.parameters)
        with Cluster.from_parameters(params) as cluster:
            records, failures = _collect(cluster.nodes)
    except CucmKitError as exc:
        return _fail(exc)
    for failure in failures:
        _fail(failure)
    threshold = params.expiry_threshold_days if args.threshold is None else args.threshold
    rows = inventory_rows(records, now=dt.datetime.now(dt.UTC), threshold=threshold,
                          cluster_fqdns=[n.fqdn for n in params.nodes])
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    elif args.csv:
        _write_csv(rows, sys.stdout)
    else:
        _write_table(rows, threshold, sys.stdout)
    return 1 if failures else 0


def _collect(nodes: Sequence[Any]) -> tuple[list[CertRecord], list[CucmKitError]]:
    """Every node's certificates; a node that fails is reported, the others still listed."""
    records: list[CertRecord] = []
    failures: list[CucmKitError] = []
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(nodes)))) as pool:
        futures = [pool.submit(node.all_certificates) for node in nodes]
        for future in futures:
            try:
                records.extend(future.result())
            except CucmKitError as exc:
                failures.append(exc)
    return records, failures


def _write_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _write_table(rows: list[dict[str, Any]], threshold: int, out: TextIO) -> None:
    shown = ("node", "store", "filename", "common_name", "not_after", "days_left", "flag")
    cells = [[_cell(row, k) for k in shown] for row in rows]
    widths = [max([len(k)] + [len(c[i]) for c in cells]) for i, k in enumerate(shown)]
    print("  ".join(k.upper().ljust(w) for k, w in zip(shown, widths, strict=True)).rstrip(), file=out)
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(), file=out)
    flagged = sum(1 for r in rows if r["flag"])
    print(f"\n{len(rows)} certificates; {flagged} expired or expiring within {threshold} days.", file=out)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if key == "node":
        return str(value or "").split(".")[0]
    if key == "not_after":
        return str(value)[:10]
    return "" if value is None else str(value)


# -- trust fetch ---------------------------------------------------------------------------


def _trust_fetch(args: argparse.Namespace) -> int:
    try:
        params = load_parameters(args.parameters, check_secrets=False)
    except CucmKitError as exc:
        return _fail(exc)
    failures, pins = 0, {}
    for node in params.nodes:
        try:
            chain = fetch_server_certificate(node.address, node.https_port, node.fqdn, params.timeouts.connect)
        except CucmKitError as exc:
            print(f"{node.fqdn}: {exc}\n")
            failures += 1
            continue
        leaf = _describe_chain(node.fqdn, chain, params)
        problem = check_trust(node.address, node.https_port, node.fqdn, params.tls.ca_bundle, params.timeouts.connect)
        print(f"  trusted by tls.ca_bundle for {node.fqdn}: {'yes' if problem is None else 'NO (' + problem + ')'}\n")
        if leaf is not None and leaf.self_signed:
            pins[node.fqdn] = leaf.fingerprint_sha256
        _describe_ssh(node, params)   # an SSH probe failure is shown, not fatal (HTTPS trust is the point)
    if pins:
        print("Self-signed nodes. After checking each fingerprint out of band (console, GUI), pin them:")
        print("tls:\n  pins:")
        for fqdn, fingerprint in pins.items():
            print(f"    {fqdn}: {fingerprint}")
    print("SSH: cucmkit logs in only to a host key that ssh.known_hosts or nodes[].ssh_host_key_sha256 vouches "
          f"for. After checking the fingerprints above out of band: cucmkit trust accept -f {args.parameters}")
    return 1 if failures else 0


def _describe_ssh(node: NodeParams, params: ClusterParams) -> int:
    """Print the node's SSH host key fingerprints and whether known_hosts / pins vouch for them; 1 on failure."""
    try:
        keys = fetch_ssh_host_keys(node.address, node.ssh_port, node=node.fqdn, timeout=params.timeouts.connect)
    except CucmKitError as exc:
        print(f"  ssh {node.address}:{node.ssh_port}: {exc}\n")
        return 1
    known = set(known_host_fingerprints(params.ssh.known_hosts, node.address, node.ssh_port)) \
        if params.ssh.known_hosts is not None else set()
    pinned = set(node.ssh_host_key_sha256)
    print(f"  ssh host keys at {node.address}:{node.ssh_port} (NOT verified; check them out of band):")
    for key in keys:
        fingerprint = host_key_fingerprint(key)
        verdicts = []
        if params.ssh.known_hosts is not None:
            verdicts.append("in known_hosts" if fingerprint in known else
                            ("NOT in known_hosts (CHANGED?)" if known else "not in known_hosts"))
        if pinned:
            verdicts.append("pinned" if fingerprint in pinned else "NOT pinned")
        print(f"      {key.get_name():<20} {fingerprint}  {', '.join(verdicts)}".rstrip())
    if not keys:
        print("      (no host key offered)")
    print()
    return 0


def _describe_chain(fqdn: str, chain: list[str], params: ClusterParams) -> CertRecord | None:
    print(f"{fqdn}  (served chain, {len(chain)} certificate(s); NOT verified)")
    records = [record_from_pem(pem, node=fqdn, store="own") for pem in chain]
    for depth, r in enumerate(records):
        print(f"  [{depth}] subject  {r.subject}")
        print(f"      issuer   {r.issuer}")
        print(f"      valid    {r.not_before:%Y-%m-%d} .. {r.not_after:%Y-%m-%d}  {'self-signed' if r.self_signed else ''}")
        print(f"      sha256   {_colons(r.fingerprint_sha256)}")
    pinned = params.tls.pin_for(fqdn)
    if pinned and records:
        print(f"  pin in parameters: {'MATCHES' if pinned == records[0].fingerprint_sha256 else 'DOES NOT MATCH'}")
    return records[0] if records else None


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2)).upper()


# -- trust accept ---------------------------------------------------------------------------


def _trust_accept(args: argparse.Namespace) -> int:
    try:
        params = load_parameters(args.parameters, check_secrets=False)
        nodes = _chosen_nodes(params, args.node)
    except CucmKitError as exc:
        return _fail(exc)
    target = params.ssh.known_hosts or _default_known_hosts(params)
    offered, failures = _offered_keys(nodes, params, target)
    if not any(keys for _, keys in offered):
        print(f"Nothing to add: {target} already holds every key offered." if not failures else "No key to add.")
        return 1 if failures else 0
    if not _confirmed(args.yes, sum(len(keys) for _, keys in offered), target):
        print("Nothing written.", file=sys.stderr)
        return 1
    try:
        for node, keys in offered:
            for fingerprint in add_known_hosts(target, node.address, node.ssh_port, keys):
                print(f"added {node.fqdn} {fingerprint}")
    except CucmKitError as exc:
        return _fail(exc)
    _say_where(params, target)
    return 1 if failures else 0


def _chosen_nodes(params: ClusterParams, names: Sequence[str]) -> list[NodeParams]:
    if not names:
        return list(params.nodes)
    chosen = []
    for name in names:
        found = [n for n in params.nodes if name.lower() in (n.fqdn.lower(), n.short.lower())]
        if not found:
            raise ParameterError(f"--node {name}: no such node in {params.cluster}",
                                 remedy="name a node as in the parameter file: "
                                 + ", ".join(n.short for n in params.nodes))
        chosen += [n for n in found if n not in chosen]
    return chosen


def _default_known_hosts(params: ClusterParams) -> Path:
    """Where ``trust accept`` writes when ssh.known_hosts is not set: next to the parameter file."""
    folder = params.source.resolve().parent if params.source is not None else params.root
    return folder / "known_hosts"


def _offered_keys(nodes: Sequence[NodeParams], params: ClusterParams,
                  target: Path) -> tuple[list[tuple[NodeParams, list[paramiko.PKey]]], int]:
    """Each node's offered keys not yet in ``target`` (shown as they are read); failures counted."""
    offered: list[tuple[NodeParams, list[paramiko.PKey]]] = []
    failures = 0
    for node in nodes:
        try:
            keys = fetch_ssh_host_keys(node.address, node.ssh_port, node=node.fqdn, timeout=params.timeouts.connect)
        except CucmKitError as exc:
            print(f"{node.fqdn}: {exc}", file=sys.stderr)
            failures += 1
            continue
        known = set(known_host_fingerprints(target, node.address, node.ssh_port)) if target.exists() else set()
        print(f"{node.fqdn}  ssh {node.address}:{node.ssh_port} offers (NOT verified; compare each through a "
              "channel you trust: the platform team, the hypervisor console, an older known_hosts):")
        for key in keys:
            fingerprint = host_key_fingerprint(key)
            verdict = f"already in {target}" if fingerprint in known else "NEW"
            print(f"    {key.get_name():<20} {fingerprint}  {verdict}")
        offered.append((node, [k for k in keys if host_key_fingerprint(k) not in known]))
        if not keys:
            print("    (no host key offered)")
    return offered, failures


def _confirmed(yes: bool, count: int, target: Path) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"error: not confirmed. Check the {count} fingerprint(s) above out of band, then re-run with --yes "
              "(or run it in a terminal to answer).", file=sys.stderr)
        return False
    answer = input(f"Write these {count} host key(s) to {target}? Only if each matches what you checked out of band. "
                   "Type yes: ")
    return answer.strip().lower() == "yes"


def _say_where(params: ClusterParams, target: Path) -> None:
    if params.ssh.known_hosts is not None:
        print(f"ssh.known_hosts ({target}) now vouches for these keys.")
        return
    shown = target.relative_to(params.root) if target.is_relative_to(params.root) else target
    source = params.source or "the parameter file"
    print(f"ssh.known_hosts is not set in {source}: cucmkit will not use {target} until you add, "
          f"in that file:\nssh:\n  known_hosts: {shown}")
