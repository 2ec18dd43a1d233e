"""``cucmkit lab ...``: start, status, stop the lab; faults, knobs, CA approvals, phones.

A started lab runs in the foreground (``--detach`` starts it in a background
process and returns once every listener accepts connections). The running
lab writes ``<state>/lab.json`` (pid, ports, control port); the other
sub-commands talk to it through its loopback control endpoint
(``cucmkit.lab.control``). When no lab is running, fault/knob/set change the
saved state, which applies at the next start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_STATE_DIR = ".lab"


def register(subparsers: Any) -> None:
    lab = subparsers.add_parser("lab", help="the embedded lab cluster", description=__doc__.splitlines()[0])
    lab.set_defaults(func=lambda a: (lab.print_help(), 2)[1])
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION")

    start = _with_dir(sub.add_parser("start", help="start the lab (foreground unless --detach)"))
    start.add_argument("--detach", action="store_true", help="run in the background; return when it listens")
    start.add_argument("--phones", type=int, default=None, help="phone count (new state only; default 200)")
    start.add_argument("--imp-subscribers", type=int, default=None, metavar="N",
                       help="IM&P subscribers imp-sub1..imp-subN beside imp-pub (new state only; default 0, at most 5)")
    start.add_argument("--speed", type=float, default=None, help="factor on every delay (default 1.0)")
    start.add_argument("--ports", choices=("fixed", "ephemeral"), default="fixed")
    start.add_argument("--fault", action="append", default=[], metavar="NODE:FAULT[=VALUE]",
                       help="fault active from the start (repeatable)")
    start.add_argument("--no-ssh", action="store_true", help=argparse.SUPPRESS)
    start.set_defaults(func=_start)

    status = _with_dir(sub.add_parser("status", help="nodes, ports, certificate summary"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    _with_dir(sub.add_parser("stop", help="stop a running lab")).set_defaults(func=_stop)

    fault = sub.add_parser("fault", help="switch faults on and off")
    fsub = fault.add_subparsers(dest="fault_command", metavar="set|clear|list", required=True)
    fset = _with_dir(fsub.add_parser("set"))
    fset.add_argument("node", help="short name, FQDN or *")
    fset.add_argument("fault")
    fset.add_argument("value", nargs="?", default=None)
    fset.set_defaults(func=lambda a: _act(a, "fault_set", {"node": a.node, "fault": a.fault, "value": a.value}))
    fclear = _with_dir(fsub.add_parser("clear"))
    fclear.add_argument("node")
    fclear.add_argument("fault", nargs="?", default=None)
    fclear.set_defaults(func=lambda a: _act(a, "fault_clear", {"node": a.node, "fault": a.fault}))
    _with_dir(fsub.add_parser("list")).set_defaults(func=lambda a: _act(a, "fault_list", {}))

    knob = sub.add_parser("knob", help="change a knob (restart_seconds, risport_rate, ca_approval, ...)")
    ksub = knob.add_subparsers(dest="knob_command", metavar="set", required=True)
    kset = _with_dir(ksub.add_parser("set"))
    kset.add_argument("name")
    kset.add_argument("value")
    kset.set_defaults(func=lambda a: _act(a, "knob_set", {"name": a.name, "value": a.value}))

    setp = _with_dir(sub.add_parser(
        "set", help="cluster setting: security_mode 0|1, sso_enabled, backup_in_progress, restore_in_progress"))
    setp.add_argument("name")
    setp.add_argument("value")
    setp.set_defaults(func=lambda a: _act(a, "set", {"name": a.name, "value": a.value}))

    ca = sub.add_parser("ca", help="the lab CA: approve or deny AD CS requests, sign a CSR (manual CA), roll over")
    csub = ca.add_subparsers(dest="ca_command", metavar="approve|deny|pending|sign|rollover", required=True)
    for verb in ("approve", "deny"):
        p = _with_dir(csub.add_parser(verb, help=f"{verb} a pending AD CS request (or --all of them)"))
        p.add_argument("req_id", type=int, nargs="?")
        p.add_argument("--all", action="store_true", help=f"{verb} every pending request")
        p.set_defaults(func=lambda a, v=verb: _decide(a, v))
    _with_dir(csub.add_parser("pending")).set_defaults(func=lambda a: _act(a, "ca_pending", {}))
    roll = _with_dir(csub.add_parser("rollover", help="replace the lab CA: new root and issuing CA (default), "
                                     "--issuing-only, --same-cn, --cross-sign"))
    roll.add_argument("--label", default=None, help="names the new CA '<label> Root CA' / '<label> Issuing CA'")
    roll.add_argument("--issuing-only", action="store_true", help="keep the root, new issuing CA only")
    roll.add_argument("--same-cn", action="store_true", help="new keys under the previous CA names")
    roll.add_argument("--cross-sign", action="store_true", help="the previous root certifies the new root's key")
    roll.set_defaults(func=lambda a: _act(a, "ca_rollover", {"label": a.label, "new_root": not a.issuing_only,
                                                             "same_cn": a.same_cn, "cross_sign": a.cross_sign}))
    sign = _with_dir(csub.add_parser("sign", help="sign CSR files with the lab CA (the manual CA's other side)",
                                     description="Sign each CSR with the lab CA; write the certificate and its "
                                     "chain (intermediate, root) as one PEM file. With --inbox, the file goes to "
                                     "INBOX/<csr name>/signed.pem, where the manual CA looks for it.",
                                     epilog="example:\n  cucmkit lab ca sign ca-exchange/outbox/*.csr "
                                     "--inbox ca-exchange/inbox", formatter_class=argparse.RawDescriptionHelpFormatter))
    sign.add_argument("csr", nargs="+", type=Path, metavar="CSR", help="a CSR file (outbox/<node>-<purpose>.csr)")
    sign.add_argument("--purpose", help="the certificate purpose (default: from the file name <node>-<purpose>.csr)")
    where = sign.add_mutually_exclusive_group()
    where.add_argument("--inbox", type=Path, metavar="DIR", help="write DIR/<csr name>/signed.pem")
    where.add_argument("--out", type=Path, metavar="FILE", help="write FILE (one CSR only; default: stdout)")
    sign.add_argument("--no-chain", action="store_true", help="the certificate alone, without the chain")
    sign.set_defaults(func=_sign)

    events = _with_dir(sub.add_parser("events", help="the lab's event log: restarts, CSRs, uploads, CTL, resets"))
    events.add_argument("--json", action="store_true")
    events.add_argument("--since", metavar="ISO", help="only events at or after this time (e.g. 2026-11-26T20:00:00Z)")
    events.add_argument("--kind", help="only this kind (restart_requested, csr_generated, identity_uploaded, ...)")
    events.set_defaults(func=_events)

    phones = _with_dir(sub.add_parser("phones", help="phone registration summary"))
    phones.add_argument("--delete-itl", action="store_true", help="delete the ITL on every phone that rejects it")
    phones.set_defaults(func=lambda a: _act(a, "delete_itl" if a.delete_itl else "phones", {}))


def _with_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="lab state directory (default .lab)")
    return parser


# ---------------------------------------------------------------- helpers


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir).resolve()


def _info(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / "lab.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(state_dir: Path) -> dict[str, Any] | None:
    info = _info(state_dir)
    if info and "control_port" in info and _alive(int(info["pid"])):
        return info
    return None


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _act(args: argparse.Namespace, action: str, payload: dict[str, Any]) -> int:
    """Ask the running lab; with none running, act on the saved state (applies at the next start)."""
    from cucmkit.lab.control import apply_action, call
    from cucmkit.lab.pki import LabCA
    from cucmkit.lab.starting import ensure_cas
    from cucmkit.lab.state import LabRefusal, LabState

    state_dir = _dir(args)
    try:
        if _running(state_dir):
            _print(call(state_dir, action, payload))
            return 0
        if not (state_dir / "state.json").exists():
            print(f"no lab state in {state_dir}", file=sys.stderr)
            return 1
        state = LabState.load(state_dir)
        old, current = ensure_cas(state_dir)
        ca = LabCA(pair=current, old=old, directory=state_dir / "ca", knobs=state.knobs)
        _print(apply_action(state, action, payload, ca=ca, running=False))
        return 0
    except (RuntimeError, KeyError, ValueError, LabRefusal) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1


def _decide(args: argparse.Namespace, verb: str) -> int:
    """``lab ca approve|deny REQ`` or ``--all`` pending requests."""
    if args.all == (args.req_id is not None):
        print("give a request id or --all (see `cucmkit lab ca pending`)", file=sys.stderr)
        return 2
    if args.req_id is not None:
        return _act(args, f"ca_{verb}", {"req_id": args.req_id})
    from cucmkit.lab.control import apply_action, call

    state_dir = _dir(args)
    pending = call(state_dir, "ca_pending", {}) if _running(state_dir) else None
    if pending is None:
        state, ca = _offline(state_dir)
        pending = apply_action(state, "ca_pending", {}, ca=ca, running=False)
    codes = [_act(args, f"ca_{verb}", {"req_id": int(item["req_id"])}) for item in pending]
    return max(codes, default=0)


def _offline(state_dir: Path) -> tuple[Any, Any]:
    from cucmkit.lab.pki import LabCA
    from cucmkit.lab.starting import ensure_cas
    from cucmkit.lab.state import LabState

    state = LabState.load(state_dir)
    old, current = ensure_cas(state_dir)
    return state, LabCA(pair=current, old=old, directory=state_dir / "ca", knobs=state.knobs)


def _csr_purpose(path: Path, given: str | None) -> str:
    """``--purpose``, else the catalogue name ending the file name ``<node>-<purpose>.csr``."""
    from cucmkit import catalogue

    if given:
        return catalogue.get(given).name
    names = sorted(catalogue.names(), key=len, reverse=True)
    found = next((n for n in names if path.stem.lower().endswith(f"-{n.lower()}")), None)
    if found is None:
        raise ValueError(f"cannot tell the purpose from {path.name}: give --purpose")
    return found


def _sign(args: argparse.Namespace) -> int:
    """Sign CSR files with the lab CA (offline: the CA's key lives in the lab's state directory)."""
    state_dir = _dir(args)
    if args.out and len(args.csr) > 1:
        print("--out takes one CSR; use --inbox DIR for several", file=sys.stderr)
        return 2
    try:
        _, ca = _offline(state_dir)
        for path in args.csr:
            leaf, chain = ca.issue(path.read_text(encoding="ascii"), _csr_purpose(path, args.purpose))
            _write_signed(args, path, leaf + ("" if args.no_chain else "".join(chain)))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _write_signed(args: argparse.Namespace, csr: Path, pem: str) -> None:
    if args.inbox:
        target = args.inbox / csr.stem / "signed.pem"
    elif args.out:
        target = args.out
    else:
        sys.stdout.write(pem)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(pem, encoding="ascii")
    print(f"signed {csr.name} -> {target}")


def _parse_faults(items: list[str]) -> dict[str, dict[str, Any]]:
    faults: dict[str, dict[str, Any]] = {}
    for item in items:
        node, _, rest = item.partition(":")
        name, _, value = rest.partition("=")
        if not node or not name:
            raise SystemExit(f"bad --fault {item!r}; use NODE:FAULT[=VALUE]")
        faults.setdefault(node, {})[name] = value or True
    return faults


# ---------------------------------------------------------------- start / stop / status


def _start(args: argparse.Namespace) -> int:
    state_dir = _dir(args)
    info = _running(state_dir)
    if info:
        print(f"a lab is already running from {state_dir} (pid {info['pid']})", file=sys.stderr)
        return 1
    problem = _imp_subscribers_problem(args.imp_subscribers)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return _detach(args, state_dir) if args.detach else _foreground(args, state_dir)


def _foreground(args: argparse.Namespace, state_dir: Path) -> int:
    from cucmkit.lab import LabCluster, Topology
    from cucmkit.lab.control import ControlServer

    topology = _topology(args, Topology)      # --imp-subscribers checked by _start
    cluster = LabCluster(state_dir, topology=topology, ports=args.ports, speed=args.speed,  # type: ignore[arg-type]
                         faults=_parse_faults(args.fault), ssh=not args.no_ssh)
    done = threading.Event()
    try:
        cluster.start()
    except OSError as exc:
        print(f"the lab cannot listen: {exc} (another lab running? try --ports ephemeral)", file=sys.stderr)
        return 1
    control = ControlServer(cluster=cluster, on_stop=done.set)
    cluster._write_lab_json({"control_port": control.port})
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    _print_where(state_dir, _info(state_dir) or {})
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        control.close()
        cluster.stop()
        (state_dir / "lab.json").unlink(missing_ok=True)
    return 0


def _imp_subscribers_problem(count: int | None) -> str:
    from cucmkit.lab.topology import MAX_IMP_SUBSCRIBERS

    if count is None or 0 <= count <= MAX_IMP_SUBSCRIBERS:
        return ""
    return (f"--imp-subscribers {count}: an IM&P cluster has its database publisher (imp-pub) and 0 to "
            f"{MAX_IMP_SUBSCRIBERS} other IM&P nodes; give a number in that range.")


def _topology(args: argparse.Namespace, topology: Any) -> Any:
    """The new state's topology from --phones and --imp-subscribers; None keeps the default (or the saved one)."""
    if args.phones is None and not args.imp_subscribers:
        return None
    phones = {"phones": args.phones} if args.phones is not None else {}
    return topology.with_imp_subscribers(args.imp_subscribers or 0, **phones)


def _detach(args: argparse.Namespace, state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "lab.json").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "cucmkit.lab.command", "start", "--state-dir", str(state_dir), "--ports", args.ports]
    if args.phones is not None:
        cmd += ["--phones", str(args.phones)]
    if args.imp_subscribers is not None:
        cmd += ["--imp-subscribers", str(args.imp_subscribers)]
    if args.speed is not None:
        cmd += ["--speed", str(args.speed)]
    for item in args.fault:
        cmd += ["--fault", item]
    if args.no_ssh:
        cmd.append("--no-ssh")
    with open(state_dir / "lab.log", "ab") as log:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    info = _wait_listening(state_dir, child, timeout=90)
    if info is None:
        tail = (state_dir / "lab.log").read_text(errors="replace")[-2000:]
        print(f"the lab did not start; see {state_dir / 'lab.log'}\n{tail}", file=sys.stderr)
        if child.poll() is None:
            child.terminate()
        return 1
    _print_where(state_dir, info)
    return 0


def _wait_listening(state_dir: Path, child: subprocess.Popen, *, timeout: float) -> dict[str, Any] | None:
    from cucmkit.lab import wait_for_port

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return None
        info = _info(state_dir)
        if info and info.get("pid") == child.pid and "control_port" in info:
            ports = [n["https_port"] for n in info["nodes"]] + [n["ssh_port"] for n in info["nodes"] if n["ssh_port"]]
            ports += [n["rest_port"] for n in info["nodes"] if n.get("rest_port")]
            ports += [info["ca"]["port"], info["control_port"]]
            if all(wait_for_port(info["host"], p, timeout=max(0.1, deadline - time.monotonic())) for p in ports):
                return info
        time.sleep(0.1)
    return None


def _print_where(state_dir: Path, info: dict[str, Any]) -> None:
    print(f"lab cluster running (pid {info.get('pid')}), state {state_dir}")
    for node in info.get("nodes", []):
        rest = f" (+{node['rest_port']})" if node.get("rest_port") else ""
        print(f"  {node['fqdn']:<24} {node['role']:<10} {node['kind']:<5} https {node['address']}:{node['https_port']}"
              f"{rest}  ssh {node['ssh_port']}")
    ca = info.get("ca", {})
    print(f"  {ca.get('fqdn', ''):<24} lab CA (AD CS)    {ca.get('url', '')}")
    print(f"  credentials: {state_dir / 'secrets'}/{{os_admin,app_user,ca_user}}; trust: {state_dir / 'ca-bundle.pem'}")


def _stop(args: argparse.Namespace) -> int:
    from cucmkit.lab.control import call

    state_dir = _dir(args)
    info = _running(state_dir)
    if not info:
        print(f"no running lab in {state_dir}")
        return 0
    pid = int(info["pid"])
    try:
        call(state_dir, "stop", {})
    except (OSError, RuntimeError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    print(f"lab stopped (pid {pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from cucmkit.lab.control import call, lab_status
    from cucmkit.lab.state import LabState

    state_dir = _dir(args)
    info = _running(state_dir)
    if info:
        data = call(state_dir, "status", {})
        data["pid"], data["ca"] = info["pid"], info["ca"]
    elif (state_dir / "state.json").exists():
        data = lab_status(LabState.load(state_dir), None, running=False)
    else:
        print(f"no lab state in {state_dir}; start one with: cucmkit lab start --detach", file=sys.stderr)
        return 1
    if args.json:
        _print(data)
    else:
        _print_status(data)
    return 0


def _events(args: argparse.Namespace) -> int:
    from cucmkit.lab.control import apply_action, call
    from cucmkit.lab.state import LabState

    state_dir = _dir(args)
    payload = {"since": args.since, "kind": args.kind}
    try:
        if _running(state_dir):
            rows = call(state_dir, "events", payload)
        elif (state_dir / "state.json").exists():
            rows = apply_action(LabState.load(state_dir), "events", payload, running=False)
        else:
            print(f"no lab state in {state_dir}", file=sys.stderr)
            return 1
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print(rows)
        return 0
    for row in rows:
        print(_event_line(row))
    return 0


def _event_line(row: dict[str, Any]) -> str:
    from datetime import datetime

    when = datetime.fromtimestamp(float(row["time"]), tz=UTC).isoformat(timespec="milliseconds")
    extra = " ".join(f"{k}={v}" for k, v in row.items() if k not in ("seq", "time", "kind", "node"))
    return f"{row['seq']:>6} {when} {row['kind']:<18} {row['node'] or '-'}  {extra}"


def _print_status(data: dict[str, Any]) -> None:
    state = f"running (pid {data.get('pid')})" if data["running"] else "not running"
    print(f"lab cluster: {state}; state {data['state_dir']}")
    print(f"security mode {data['security_mode']}, SSO {'enabled' if data['sso_enabled'] else 'disabled'}, "
          f"backup {'in progress' if data['backup_in_progress'] else 'idle'}")
    if data.get("ca"):
        print(f"CA {data['ca']['fqdn']} {data['ca']['url']}")
    for node in data["nodes"]:
        rest = f" (+{node['rest_port']})" if node.get("rest_port") else ""
        up = node["https_port"]
        ports = f"https {node['address']}:{node['https_port']}{rest} ssh {node['ssh_port']}" if up else "(down)"
        faults = f"  faults: {node['faults']}" if node["faults"] else ""
        jabber = f"  jabber sessions {node['xmpp_sessions']}" if node.get("kind") == "IM&P" else ""
        print(f"\n{node['fqdn']}  {node['role']} {node['kind']}  {ports}{faults}{jabber}")
        for cert in node["certificates"]:
            flag = "  (installed, not active until restart)" if cert["pending_restart"] else ""
            flag += "  (CSR pending)" if cert.get("csr_pending") else ""
            print(f"    {cert['purpose']:<20} issuer {cert['issuer_cn']:<24} {cert['days_left']:>8.1f} days{flag}")
    phones = data["phones"]
    print(f"\nphones: {phones['registered']}/{phones['total']} registered, {phones['itl_mismatch']} ITL mismatch")


def main(argv: list[str] | None = None) -> int:
    """``python -m cucmkit.lab.command ...``: the lab commands without the full CLI's imports."""
    parser = argparse.ArgumentParser(prog="cucmkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
