"""Notifications: when mail goes out, STARTTLS is never skipped, the server's certificate is verified, metrics fail cleanly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import MappingProxyType

import pytest
from aiosmtpd.controller import Controller

from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.config import EmailConfig
from cucmkit.watch.notify import NotifyError, email_body, send_email, should_email, write_metrics
from cucmkit.watch.scan import ClusterScan
from cucmkit.watch.since import diff

from .conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, _Handler, free_port
from .material import NOW, make, params, record

PUB = "pub.c1.example"


def _report(days: float):
    leaf = record(make(PUB, not_after=NOW + dt.timedelta(days=days), slot=20), node=PUB, purpose="tomcat")
    scan = ClusterScan(params=params(), parameters_file="c1.yaml", records=(leaf,), node_errors=MappingProxyType({}))
    return classify_fleet([scan], now=NOW)


def _email(port: int, ca: Path | None = None, **extra: object) -> EmailConfig:
    return EmailConfig.model_validate({"host": "127.0.0.1", "port": port, "from": "w@lab.example",
                                       "to": ["t@lab.example"], "ca_bundle": ca, "timeout": 10, **extra})


def test_should_email_by_mode() -> None:
    quiet, due = _report(300), _report(5)
    assert not should_email(_email(25), quiet) and should_email(_email(25), due)
    assert should_email(_email(25, send="always"), quiet)
    changes = _email(25, send="changes")
    assert should_email(changes, due)                                      # no --since: nothing to compare with
    same = due.model_copy(update={"since": diff(due, due)})
    assert not should_email(changes, same)
    newly = due.model_copy(update={"since": diff(quiet.model_copy(update={"items": ()}), due)})
    assert should_email(changes, newly)


def test_body_names_the_item_and_command() -> None:
    body = email_body(_report(5), report_path="/srv/watch.html")
    assert "DUE      c1 pub tomcat (self-signed)" in body
    assert "cucmkit run tomcat -f c1.yaml --ticket <TICKET>" in body and "Report: /srv/watch.html" in body
    assert "in this order; replace <TICKET>):" in body


def test_a_server_without_starttls_gets_nothing() -> None:
    handler = _Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with pytest.raises(NotifyError, match="does not offer STARTTLS"):
            send_email(_email(controller.port), _report(5))
    finally:
        controller.stop()
    assert handler.messages == []


def test_the_server_certificate_is_verified(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCH_SMTP_PASSWORD", SMTP_PASSWORD)
    config = _email(smtp_server.port, None, username=SMTP_USER, password={"env": "WATCH_SMTP_PASSWORD"})
    with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED") as caught:    # the system store: unknown CA
        send_email(config, _report(5))
    assert SMTP_PASSWORD not in str(caught.value)
    assert smtp_server.handler.messages == []
    send_email(config.model_copy(update={"ca_bundle": smtp_server.ca_file}), _report(5))
    assert len(smtp_server.handler.messages) == 1


def test_metrics_file_in_an_unwritable_place_is_a_notify_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotifyError, match="prometheus.textfile"):
        write_metrics(_report(5), blocker / "cucmkit.prom")
