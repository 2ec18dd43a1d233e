"""``cucmkit trust export|partners|rotate``: partner files, the partner check, and the CA rotation.

    cucmkit trust export   -f PARAMS --chain NEW-CA.pem [--out DIR]
    cucmkit trust partners -f PARAMS [--ca lab|adcs|manual]
    cucmkit trust rotate   -f PARAMS --chain NEW-CA.pem --ticket T [--retire SHA256 ...] [--approve]

``rotate`` without ``--approve`` shows the plan (collisions, partners, stores to stage, purposes to renew, CA
certificates to retire) and changes nothing (exit 3). With it, the rotation runs, or resumes from
``<root>/.cucmkit-state/<cluster>/trust-rotation.json``. Exit codes: 0 done, 1 failed, 3 waiting or not approved,
4 blocked (collision, partner).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cucmkit.certs.intake import load_files
from cucmkit.errors import CucmKitError, ParameterError
from cucmkit.params import ClusterParams, load_parameters
from cucmkit.trust.cleanup import read_inventory
from cucmkit.trust.partners import check_partner, export_partner_files, issue_probe
from cucmkit.trust.rotation import RotationPlan, plan_rotation

__all__ = ["register_rotation", "plan_lines", "EXIT"]

EXIT = {"done": 0, "failed": 1, "pending": 1, "waiting": 3, "blocked": 4}


def register_rotation(trust_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = _params(trust_sub.add_parser("export", help="the new chain for each partner: bundle, one file per "
                                          "CA certificate, and what to paste where"))
    export.add_argument("--chain", required=True, type=Path, help="the new CA certificates (PEM, DER or p7b)")
    export.add_argument("--out", type=Path, default=None, help="folder (default <root>/partner-chain/<cluster>)")
    export.set_defaults(func=_export)
    partners = _params(trust_sub.add_parser("partners", help="check that every partner endpoint accepts a "
                                            "certificate issued by the new CA"))
    partners.add_argument("--ca", choices=("lab", "adcs", "manual"), default=None, help="CA back-end for the probe")
    partners.set_defaults(func=_partners)
    rotate = _params(trust_sub.add_parser("rotate", help="CA rotation: collisions, partners, stage, renew, verify, "
                                          "retire the old CA (resumable)"))
    rotate.add_argument("--chain", required=True, type=Path, help="the new CA certificates (PEM, DER or p7b)")
    rotate.add_argument("--ticket", required=True, help="the change ticket")
    rotate.add_argument("--retire", action="append", default=[], metavar="SHA256",
                        help="the old CA certificates (default: every CA an identity chains to today)")
    rotate.add_argument("--ca", choices=("lab", "adcs", "manual"), default=None, help="CA back-end for renewals")
    rotate.add_argument("--state-dir", type=Path, default=None, help="default <root>/.cucmkit-state")
    rotate.add_argument("--approve", action="store_true", help="run it (without: show the plan only)")
    rotate.set_defaults(func=_rotate)


def _params(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    return parser


def _chain(path: Path) -> list[str]:
    return [c.pem for c in load_files([path]).certificates]


def _export(args: argparse.Namespace) -> int:
    try:
        params = load_parameters(args.parameters, check_secrets=False)
        if not params.partners:
            raise ParameterError("the parameter file has no partners section",
                                 remedy="list each partner under partners: (see docs/trust.md).")
        chain = _chain(args.chain)
    except CucmKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out or params.root / "partner-chain" / params.cluster
    for partner in params.partners:
        done = export_partner_files(partner, chain, out / partner.name)
        print(f"{partner.name} ({done.title}): {done.bundle}")
        for path in done.files:
            print(f"    {path.name}")
        for number, step in enumerate(done.instructions, start=1):
            print(f"  {number}. {step}")
    return 0


def _partners(args: argparse.Namespace) -> int:
    from cucmkit.ca import make_backend

    try:
        params = load_parameters(args.parameters)
        backend = make_backend(params, args.ca)
        probe = issue_probe(backend, node=params.publisher.fqdn, domain=params.publisher.domain)
    except CucmKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    checks = [check_partner(p, probe, timeout=params.timeouts.connect) for p in params.partners]
    for check in checks:
        verdict = {True: "TRUSTS the new chain", False: "does NOT trust the new chain", None: "NOT CHECKED"}
        print(f"{check.partner}: {verdict[check.trusted]} ({check.detail})")
    return 4 if any(c.blocks for c in checks) else 0


def plan_lines(plan: RotationPlan) -> list[str]:
    lines = ["new chain (root first): " + ", ".join(_cn(p) for p in plan.new_chain)]
    lines += [f"COLLISION {c.common_name}: sha256 {c.old_fingerprint} in {', '.join(c.stores)}; "
              f"{len(c.dependents)} identity certificate(s) chained to it" for c in plan.collisions]
    lines.append(f"stage into {len(plan.stage)} trust store(s): "
                 + ", ".join(sorted({f'{n.split(".")[0]}/{s}' for n, s in plan.stage})))
    lines += [f"renew {purpose} on {', '.join(n.split('.')[0] for n in nodes)}" for purpose, nodes in plan.renew]
    lines += [f"retire {e.common_name} sha256 {e.fingerprint} (after nothing chains to it)" for e in plan.retire]
    return lines


def _cn(pem: str) -> str:
    from cucmkit.certs.records import record_from_pem

    return record_from_pem(pem).common_name


def _rotate(args: argparse.Namespace) -> int:
    from cucmkit.cucm.node import Cluster

    try:
        params = load_parameters(args.parameters)
        chain = _chain(args.chain)
        with Cluster.from_parameters(params) as cluster:
            if not args.approve:
                inventory = read_inventory(cluster, keep=params.trust.keep, now=dt.datetime.now(dt.UTC))
                print("\n".join(plan_lines(plan_rotation(inventory, chain, retire=args.retire))))
                print("\nNothing changed: re-run with --approve to rotate.", file=sys.stderr)
                return EXIT["waiting"]
            return _run_rotation(args, params, cluster, chain)
    except CucmKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run_rotation(args: argparse.Namespace, params: ClusterParams, cluster: Any, chain: list[str]) -> int:
    from cucmkit.ca import make_backend
    from cucmkit.trust.engine import engine_renewer
    from cucmkit.trust.rotation import Rotation, write_rotation_evidence
    from cucmkit.wiring import state_dir_for

    state_dir = state_dir_for(params, args.state_dir)
    backend = make_backend(params, args.ca)
    rotation = Rotation(cluster=cluster, state_path=state_dir / params.cluster / "trust-rotation.json",
                        ticket=args.ticket, new_chain=chain, partners=params.partners, keep=params.trust.keep,
                        retire=args.retire,
                        renewer=engine_renewer(cluster, params, state_dir=state_dir, ticket=args.ticket, ca=backend),
                        probe=lambda: issue_probe(backend, node=params.publisher.fqdn, domain=params.publisher.domain))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        state = rotation.run()
    finally:
        path = write_rotation_evidence(rotation.state, root=params.root, stamp=stamp)
    for name, step in state.steps.items():
        print(f"{name:<11} {step.status:<8} {step.detail}")
    print(f"evidence: {path}")
    return EXIT.get(state.status, 1)
