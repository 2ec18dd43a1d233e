"""The activate steps: registration baseline, CTL update, service restarts, TLS verification."""

from __future__ import annotations

import time

from cucmkit.errors import CertificateError, CucmKitError, TlsError
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import Baseline
from cucmkit.renewal.steps.base import StepContext, node_of

__all__ = ["phones_baseline", "ctl_update", "restart", "reload", "verify_tls"]


def phones_baseline(step: Step, ctx: StepContext) -> str:
    """Which phones are registered before anything restarts (taken once per run)."""
    if ctx.ledger.state.baseline is not None:
        return "baseline already taken"
    summary = ctx.cluster.registration()
    names = tuple(sorted(d.name for d in summary.devices if d.registered))
    early = step.phase == "install"     # before the upload: CUCM resets phones itself on the change
    stamps = {d.name: d.timestamp for d in summary.devices if d.registered} if early else {}
    ctx.ledger.set_baseline(Baseline(registered=summary.registered, total=summary.total, names=names,
                                     stamps=stamps))
    when = " before the upload (phones must re-register after the change)" if early else ""
    return f"{summary.registered} of {summary.total} phones registered{when}"


def ctl_update(step: Step, ctx: StepContext) -> str:
    ctx.open_gate("CTL updated")
    output = ctx.cluster.ctl_update()
    return "CTL file updated: " + " ".join(str(output).split())[:200]


def restart(step: Step, ctx: StepContext) -> str:
    ctx.open_gate("services restarted")
    service = step.service or ""
    state = ctx.node(step.node).restart_service(service, timeout=ctx.options.restart_timeout)
    if state.status != "Started":
        raise CucmKitError(f"{service} did not start ({state.status}: {state.reason})",
                           node=step.node, operation="restart", purpose=ctx.purpose.name,
                           remedy="check the service on the node (utils service list), then re-run")
    return f"{service} restarted and Started"


def reload(step: Step, ctx: StepContext) -> str:
    """A CLI command that reloads what is not a service (``utils ipsec restart``), from the catalogue."""
    ctx.open_gate("services restarted")
    restart = next((r for r in ctx.purpose.restarts if r.command and r.service == step.service), None)
    if restart is None or restart.command is None:
        raise CucmKitError(f"the catalogue has no reload command for {step.service!r}", node=step.node,
                           operation="reload", purpose=ctx.purpose.name, remedy="re-plan the run")
    output = ctx.node(step.node).run_command(restart.command)
    return f"{restart.command}: " + " ".join(output.split())[:200]


def verify_tls(step: Step, ctx: StepContext) -> str:
    """Poll the node's TLS listener until it serves the certificate the install step recorded.

    The budget is ``tls_timeout`` (from the parameter file's ``timeouts.restart``: how long a
    restarted Tomcat may take to serve again).
    """
    name = node_of(step)
    node = ctx.node(name)
    change = ctx.ledger.state.certificates.get(name)
    expected = change.after if change else None
    deadline = time.monotonic() + ctx.options.tls_timeout
    while True:
        error: CucmKitError | None = None
        try:
            served: str | None = node.served_certificate().fingerprint_sha256
        except CucmKitError as exc:
            served, error = None, exc
        if served == expected:
            return f"serves the new certificate (sha256 {(expected or '')[:16]}...)"
        left = deadline - time.monotonic()
        if left <= 0:
            what = f"sha256 {served}" if served else f"nothing ({error})"
            raise CertificateError(f"still serves {what}, expected {expected}", node=name,
                                   operation="verify-tls", purpose=ctx.purpose.name,
                                   remedy=_tls_remedy(served, error, change.before if change else None))
        time.sleep(min(1.0, ctx.options.poll_interval, left))


def _tls_remedy(served: str | None, error: CucmKitError | None, before: str | None) -> str:
    """What to do when the node does not serve the new certificate: depends on what it serves."""
    if isinstance(error, TlsError):
        return ("the TLS handshake with the node failed: check the node's HTTPS port with "
                "openssl s_client -connect <node>:8443 -servername <fqdn>, and that the installed certificate "
                "and its key match (show cert own tomcat); a restart does not fix a broken handshake")
    if error is not None:
        return ("the node's HTTPS did not answer within timeouts.restart: check that Cisco Tomcat is Started "
                "(utils service list) and re-run; the step waits for it again")
    if served is not None and served == before:
        return ("the node still serves its old certificate: Cisco Tomcat has not picked up the new one; "
                "restart it (utils service restart Cisco Tomcat) and re-run")
    return ("the node serves a certificate this run did not install (another change, or a load balancer in "
            "front of it): check show cert own tomcat on the node before re-running")
