"""Help that teaches, one exit-code contract, `run` has the overrides `renew` has."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cucmkit.cli import _COMMANDS, build_parser, main
from cucmkit.renewal.command import EXIT_CODES, resume_command
from cucmkit.runner import EXIT_INTERRUPTED, RunSpec

COMMANDS = tuple(_COMMANDS)


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_the_kit_not_a_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert "thin dispatcher" not in text
    assert "Renew the CA-signed certificates" in text and "130 interrupted" in text and "examples:" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_description_exit_codes_and_an_example(capsys: pytest.CaptureFixture[str],
                                                                 command: str) -> None:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices[command].description, f"{command} --help has no description"
    text = _help(capsys, command)
    assert "exit codes" in text, text
    assert "example" in text and f"cucmkit {command} " in text.split("example")[-1], text


def test_run_accepts_the_overrides_renew_has() -> None:
    args = build_parser("run").parse_args(["run", "tomcat", "-f", "p.yaml", "--ticket", "T", "--approve",
                                           "--override-window", "P1 outage", "--nodes", "a", "b", "--force-csr",
                                           "--approver", "J. Smith"])
    assert args.override_window == "P1 outage" and args.nodes == ["a", "b"] and args.force_csr
    assert args.approver == "J. Smith"


def test_one_exit_code_contract() -> None:
    assert EXIT_CODES["stopped"] == EXIT_INTERRUPTED == 130
    assert EXIT_CODES["blocked"] == EXIT_CODES["failed"] == 1 and EXIT_CODES["waiting"] == 3


def test_run_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "nosuch", "-f", str(tmp_path / "x.yaml"), "--ticket", "T"]) == 2
    assert main(["run", "tomcat", "-f", str(tmp_path / "x.yaml"), "--ticket", "T"]) == 2
    assert "no such parameter file" in capsys.readouterr().err


def test_resume_commands_repeat_the_run_without_force_csr(tmp_path: Path) -> None:
    spec = RunSpec(purpose="CallManager", parameters_file=tmp_path / "east.yaml", ticket="CHG 1", ca="manual",
                   approver="J. Smith", override_window="P1 outage", renew_nodes=("cucm-sub1",), force_csr=True)
    command = spec.resume_command()
    assert command.startswith("cucmkit run CallManager -f ")
    assert "--ticket 'CHG 1' --ca manual --approve --approver 'J. Smith' --override-window 'P1 outage'" in command
    assert "--nodes cucm-sub1" in command and "--force-csr" not in command
    args = argparse.Namespace(purpose="tomcat", parameters=Path("parameters/lab.yaml"), ticket="T", ca=None,
                              override_window=None, nodes=(), state_dir=None, force_csr=True)
    assert resume_command(args) == "cucmkit renew tomcat -f parameters/lab.yaml --ticket T --approve"
