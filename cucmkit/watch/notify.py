"""Notifications through real protocols: e-mail over SMTP with STARTTLS, and a Prometheus textfile.

``send_email`` always upgrades with STARTTLS (the server's certificate is
verified against ``ca_bundle`` or the system store) before AUTH and before the
message; it never sends a secret (the body lists certificates and commands).
``write_metrics`` writes the Prometheus text exposition format with
prometheus_client's ``write_to_textfile`` (a temporary file renamed into
place), for node exporter's textfile collector.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from cucmkit.errors import CucmKitError
from cucmkit.watch.classify import TICKET_PLACEHOLDER
from cucmkit.watch.config import EmailConfig
from cucmkit.watch.model import Item, Reach, Report, Status, exit_code

__all__ = ["NotifyError", "should_email", "email_message", "send_email", "metrics_registry", "write_metrics"]


class NotifyError(CucmKitError):
    """A notification could not be delivered (SMTP refused, TLS failed, metrics file not writable)."""


def should_email(config: EmailConfig, report: Report) -> bool:
    if config.send == "always":
        return True
    if config.send == "changes":
        since = report.since
        return since is None or bool(since.newly_due or since.newly_unreachable or since.renewed)
    return exit_code(report) != 0


def _subject(report: Report) -> str:
    down = len(report.unreachable())
    return (f"cucmkit watch: {report.count(Status.EXPIRED)} expired, {report.count(Status.DUE)} due"
            + (f", {down} cluster(s) not read" if down else "") + f" ({len(report.clusters)} clusters)")


def _item_line(item: Item) -> str:
    what = item.purpose if item.kind == "identity" else f"{item.store} {item.common_name}"
    signed = "CA-signed" if item.ca_signed else "self-signed"
    return (f"  {item.status.value.upper():8} {item.cluster} {item.node.split('.')[0]} {what} ({signed}) "
            f"{item.not_after:%Y-%m-%d}, {int(item.days_left)} days: {item.action}")


def email_body(report: Report, *, report_path: str | None = None) -> str:
    lines = [_subject(report), ""]
    for cluster in report.clusters:
        state = cluster.reach.value if cluster.reach is Reach.UP else f"{cluster.reach.value}: " + (
            cluster.error or "; ".join(f"{n}: {e}" for n, e in cluster.node_errors.items()))
        lines.append(f"{cluster.name}: {cluster.expired} expired, {cluster.due} due ({state})")
    flagged = report.flagged()
    lines += ["", f"Due and expired ({len(flagged)}):"] + [_item_line(i) for i in flagged]
    commands = [cmd for c in report.clusters for cmd in c.commands]
    hint = f"; replace {TICKET_PLACEHOLDER}" if any(TICKET_PLACEHOLDER in c for c in commands) else ""
    lines += ["", f"Commands (one at a time, in this order{hint}):"] + [f"  {c}" for c in commands]
    if report.since is not None:
        s = report.since
        lines += ["", f"Since {s.previous_generated_at:%Y-%m-%d %H:%M} UTC: {len(s.newly_due)} newly due, "
                  f"{len(s.renewed)} renewed, {len(s.newly_unreachable)} newly unreachable"]
    if report_path:
        lines += ["", f"Report: {report_path}"]
    return "\n".join(lines) + "\n"


def email_message(config: EmailConfig, report: Report, *, report_path: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _subject(report)
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message.set_content(email_body(report, report_path=report_path))
    return message


def _tls_context(config: EmailConfig) -> ssl.SSLContext:
    cafile = str(config.ca_bundle) if config.ca_bundle is not None else None
    return ssl.create_default_context(cafile=cafile)


def send_email(config: EmailConfig, report: Report, *, report_path: str | None = None) -> None:
    """Send the report summary; NotifyError (no secret in it) when the server cannot be used."""
    message = email_message(config, report, report_path=report_path)
    secret = config.secret()
    where = f"SMTP {config.host}:{config.port}"
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            smtp.ehlo()
            smtp.starttls(context=_tls_context(config))
            smtp.ehlo()
            if config.username and secret is not None:
                smtp.login(config.username, secret.reveal())
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"{where}: authentication refused ({exc.smtp_code})",
                          remedy="check email.username and the secret email.password refers to.") from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(f"{where}: the server does not offer STARTTLS",
                          remedy="use a submission port that offers STARTTLS (587); cucmkit never mails in clear.") \
            from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise NotifyError(f"{where}: {type(exc).__name__}: {_reason(exc)}",
                          remedy="check email.host, email.port and email.ca_bundle.") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text[:200]}"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or "TLS handshake failed"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)[:200]
    return str(exc)[:200]


# -- Prometheus -----------------------------------------------------------------------------------


def metrics_registry(report: Report) -> CollectorRegistry:
    """The report as metrics: one expiry timestamp per certificate, cluster reachability, counts, last run."""
    registry = CollectorRegistry()
    expiry = Gauge("cucm_certificate_expiry_timestamp_seconds", "notAfter of a certificate, as a Unix time",
                   ["cluster", "node", "store", "purpose", "kind", "common_name", "serial", "ca_signed"],
                   registry=registry)
    for item in report.items:
        expiry.labels(item.cluster, item.node, item.store, item.purpose or "", item.kind, item.common_name,
                      item.serial, "true" if item.ca_signed else "false").set(item.not_after.timestamp())
    up = Gauge("cucm_watch_cluster_up", "1 when every node of the cluster was read", ["cluster"], registry=registry)
    counts = Gauge("cucm_watch_certificates", "certificates by status", ["cluster", "status"], registry=registry)
    threshold = Gauge("cucm_watch_threshold_days", "the cluster's expiry threshold", ["cluster"], registry=registry)
    for cluster in report.clusters:
        up.labels(cluster.name).set(1 if cluster.reach is Reach.UP else 0)
        threshold.labels(cluster.name).set(cluster.threshold_days)
        for status, value in ((Status.EXPIRED, cluster.expired), (Status.DUE, cluster.due), (Status.OK, cluster.ok)):
            counts.labels(cluster.name, status.value).set(value)
    last = Gauge("cucm_watch_last_run_timestamp_seconds", "when the watch ran, as a Unix time", registry=registry)
    last.set(report.generated_at.timestamp())
    return registry


def write_metrics(report: Report, path: Path) -> Path:
    """Write the textfile atomically (prometheus_client writes a temporary file and renames it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), metrics_registry(report))
    except OSError as exc:
        raise NotifyError(f"metrics file {path}: {exc.strerror or type(exc).__name__}",
                          remedy="check prometheus.textfile: its folder must exist and be writable.") from None
    return path
