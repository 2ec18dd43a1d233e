"""cucmkit watch on a lab fleet: report (JSON + HTML), exit code, the e-mail received, the Prometheus textfile."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cucmkit.cli import main
from cucmkit.lab.starting import EXPIRED_CN
from cucmkit.watch.model import Reach, Status
from cucmkit.watch.report import read_report

from .conftest import SMTP_PASSWORD, SMTP_USER, Fleet, SmtpServer

pytestmark = pytest.mark.timeout(600)


def _config(tmp_path: Path, smtp: SmtpServer | None, *, password: object = None, **extra: object) -> Path:
    data: dict[str, object] = {"ticket": "CHG-1", "prometheus": {"textfile": "metrics/cucmkit.prom"}, **extra}
    if smtp is not None:
        data["email"] = {"host": "127.0.0.1", "port": smtp.port, "username": SMTP_USER,
                         "password": password or {"env": "WATCH_SMTP_PASSWORD"}, "from": "watch@lab.example",
                         "to": ["uc-team@lab.example", "noc@lab.example"], "ca_bundle": str(smtp.ca_file)}
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _metrics(path: Path) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(path.read_text())}


def test_fleet_report_exit_code_email_and_metrics(lab_fleet: Fleet, smtp_server: SmtpServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WATCH_SMTP_PASSWORD", SMTP_PASSWORD)
    code = main(["watch", "-f", str(lab_fleet.folder), "--config", str(_config(tmp_path, smtp_server)),
                 "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 6, out                                            # a cluster unreachable wins over expired/due

    report = read_report(tmp_path / "out" / "watch.json")
    clusters = {c.name: c for c in report.clusters}
    assert list(clusters) == ["down", "fleet000", "fleet001"]       # the unreachable one listed, not dropped
    assert clusters["down"].reach is Reach.UNREACHABLE and "cannot connect" in clusters["down"].error
    assert clusters["fleet000"].reach is Reach.UP and clusters["fleet000"].expired == 2   # the trust cert, 2 nodes
    assert clusters["fleet001"].expired == 0 and clusters["fleet001"].due > 0
    items = {(i.cluster, i.node.split(".")[0], i.store, i.purpose or i.common_name): i for i in report.items}
    tomcat = items[("fleet000", "cucm-pub", "own", "tomcat")]
    command = f"cucmkit run tomcat -f {lab_fleet.files['fleet000']} --ticket CHG-1"
    assert tomcat.ca_signed and tomcat.status is Status.DUE and tomcat.command == command
    assert command in clusters["fleet000"].commands and command in out
    expired = [i for i in report.items if i.common_name == EXPIRED_CN]
    assert {i.cluster for i in expired} == {"fleet000"}
    assert all(i.status is Status.EXPIRED and i.unused and i.kind == "trust" for i in expired)
    assert not any(i.unused for i in report.items if i.common_name.startswith("Lab Old"))   # identities chain to them
    clean = f"cucmkit trust clean -f {lab_fleet.files['fleet000']} --only {expired[0].fingerprint_sha256} --ticket CHG-1"
    assert clusters["fleet000"].commands[-1] == clean and not any("trust clean" in c for c in clusters["fleet001"].commands)

    html = (tmp_path / "out" / "watch.html").read_text()
    assert html.count(EXPIRED_CN) >= 2 and command in html and "unreachable" in html
    assert 'class="sortable"' in html and "data:image/png;base64," in html and "<script>" in html
    assert "tomcat.ipynb" in html

    [mail] = smtp_server.handler.messages
    assert mail.tls and mail.login == SMTP_USER
    assert sorted(mail.rcpt_tos) == ["noc@lab.example", "uc-team@lab.example"]
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert "2 expired" in message["Subject"] and "1 cluster(s) not read" in message["Subject"]
    body = message.get_content().replace("\r\n", "\n")
    assert command in body and EXPIRED_CN in body and "down: 0 expired, 0 due (unreachable: " in body
    assert "EXPIRED  fleet000 cucm-pub tomcat-trust Expired Partner CA (self-signed)" in body
    assert "<TICKET>" not in body and clean in body                # the configuration named the ticket
    secrets = [SMTP_PASSWORD] + [p.read_text().strip() for p in lab_fleet.fleet.root.glob("*/secrets/*")]
    assert not any(s in mail.data.decode() for s in secrets)
    assert not any(s in html or s in (tmp_path / "out" / "watch.json").read_text() for s in secrets)

    prom = tmp_path / "metrics" / "cucmkit.prom"
    metrics = _metrics(prom)
    [sample] = [s for s in metrics["cucm_certificate_expiry_timestamp_seconds"]
                if s.labels["cluster"] == "fleet000" and s.labels["store"] == "own" and s.labels["purpose"] == "tomcat"
                and s.labels["node"].startswith("cucm-pub")]
    assert sample.value == pytest.approx(tomcat.not_after.timestamp()) and sample.labels["ca_signed"] == "true"
    up = {s.labels["cluster"]: s.value for s in metrics["cucm_watch_cluster_up"]}
    assert up == {"down": 0.0, "fleet000": 1.0, "fleet001": 1.0}
    [last] = metrics["cucm_watch_last_run_timestamp_seconds"]
    assert last.value == pytest.approx(report.generated_at.timestamp())
    counts = {(s.labels["cluster"], s.labels["status"]): s.value for s in metrics["cucm_watch_certificates"]}
    assert counts[("fleet000", "expired")] == 2
    assert [p.name for p in prom.parent.iterdir()] == ["cucmkit.prom"]      # written atomically, nothing left over


@pytest.mark.parametrize(("clusters", "extra", "expected"), [
    (["fleet001"], [], 4),                         # due only
    (["fleet001"], ["--threshold", "10"], 0),      # nothing within 10 days
    (["fleet000"], [], 5),                         # an expired trust certificate
    (["fleet000", "down"], [], 6),
])
def test_exit_codes(lab_fleet: Fleet, tmp_path: Path, clusters: list[str], extra: list[str], expected: int) -> None:
    args = ["watch", "--out", str(tmp_path), "--no-notify", *extra]
    for name in clusters:
        args += ["-f", str(lab_fleet.files[name])]
    assert main(args) == expected
    assert json.loads((tmp_path / "watch.json").read_text())["format"] == "cucmkit-watch/1"


def test_since_lists_renewed_and_newly_unreachable(lab_fleet: Fleet, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = ["watch", "-f", str(lab_fleet.files["fleet000"]), "--out", str(tmp_path), "--no-notify"]
    assert main(first) == 5
    lab = lab_fleet.fleet.labs[0]
    node = lab.state.node("cucm-pub")
    before = node.own()["ipsec"].pem
    leaf, _ = lab.ca.issue(node.generate_csr("ipsec"), "ipsec", signer="old")   # the old CA is in ipsec-trust
    node.upload_identity("ipsec", leaf)
    assert node.own()["ipsec"].pem != before
    again = first + ["-f", str(lab_fleet.files["down"]), "--since", str(tmp_path / "watch.json")]
    assert main(again) == 6                        # --since may name the file this run overwrites
    since = read_report(tmp_path / "watch.json").since
    assert since is not None
    assert since.renewed == (f"fleet000|{node.fqdn}|own|ipsec",)
    assert since.newly_unreachable == ("down",) and since.newly_due == ()
    assert "Renewed since" in (tmp_path / "watch.html").read_text()


def test_since_on_the_first_run_is_a_note_not_an_error(lab_fleet: Fleet, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["watch", "-f", str(lab_fleet.files["fleet001"]), "--out", str(tmp_path), "--no-notify",
            "--since", str(tmp_path / "watch.json")]
    assert main(args) == 4
    assert "no earlier report yet" in capsys.readouterr().err
    first = read_report(tmp_path / "watch.json")
    assert first.since is None and "first run" in first.notes[0]
    assert main(args) == 4                                          # the second run compares with the first
    assert read_report(tmp_path / "watch.json").since is not None


def test_smtp_refusal_is_exit_7_and_the_report_is_still_written(lab_fleet: Fleet, smtp_server: SmtpServer,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WATCH_SMTP_PASSWORD", "wrong-password-xyz")
    code = main(["watch", "-f", str(lab_fleet.files["fleet001"]), "--config", str(_config(tmp_path, smtp_server)),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 7 and "authentication refused" in err and "wrong-password-xyz" not in err
    assert smtp_server.handler.messages == []
    report = read_report(tmp_path / "out" / "watch.json")
    assert report.notes and "authentication refused" in report.notes[0]
    assert (tmp_path / "metrics" / "cucmkit.prom").is_file()           # the other notification still went out


def test_refused_input_is_exit_1_before_any_scan(lab_fleet: Fleet, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, SmtpServer(port=25, ca_file=tmp_path / "x", handler=None),  # type: ignore[arg-type]
                     password="hunter2-plain")
    assert main(["watch", "-f", str(lab_fleet.folder), "--config", str(config), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "email.password" in err and "hunter2-plain" not in err and "Traceback" not in err
    assert main(["watch", "-f", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 1
    assert "cannot be read" in capsys.readouterr().err
    unset = yaml.safe_load(lab_fleet.files["fleet001"].read_text())
    unset["credentials"]["os_admin"]["password"] = {"env": "WATCH_TEST_NEVER_SET"}
    (tmp_path / "unset.yaml").write_text(yaml.safe_dump(unset))
    args = ["watch", "-f", str(lab_fleet.files["fleet000"]), "-f", str(tmp_path / "unset.yaml"), "--out", str(tmp_path)]
    assert main(args) == 1
    assert f"{tmp_path / 'unset.yaml'}: credentials.os_admin.password" in capsys.readouterr().err
    assert not (tmp_path / "watch.json").exists()


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    text = capsys.readouterr().out
    for line in ("0  nothing due", "4  something due", "5  something expired", "6  a cluster", "1  refused input"):
        assert line in text


def test_configuration_output_and_threshold_apply_without_flags(lab_fleet: Fleet, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conf" / "watch.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"output": "reports", "threshold_days": 10}))    # relative to the file
    monkeypatch.chdir(tmp_path)
    assert main(["watch", "-f", str(lab_fleet.files["fleet001"]), "--config", str(config)]) == 0
    report = read_report(tmp_path / "conf" / "reports" / "watch.json")
    assert [c.threshold_days for c in report.clusters] == [10]
    assert main(["watch", "-f", str(lab_fleet.files["fleet001"]), "--config", str(config), "--threshold", "60",
                 "--out", "here"]) == 4
    assert (tmp_path / "here" / "watch.html").is_file()


def test_two_files_naming_one_cluster_are_refused(lab_fleet: Fleet, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    twin = tmp_path / "twin.yaml"
    twin.write_text(lab_fleet.files["fleet001"].read_text())
    assert main(["watch", "-f", str(lab_fleet.files["fleet001"]), "-f", str(twin), "--out", str(tmp_path)]) == 1
    assert "is also named by" in capsys.readouterr().err


def test_the_process_exit_code_is_what_a_scheduler_sees(lab_fleet: Fleet, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "cucmkit", "watch", "-f", str(lab_fleet.files["fleet001"]),
                          "--out", str(tmp_path), "--no-notify"], cwd=tmp_path, text=True, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(repo)}, timeout=300)
    assert run.returncode == 4, run.stderr
    assert f"report: {tmp_path / 'watch.html'}" in run.stdout and "Traceback" not in run.stderr
