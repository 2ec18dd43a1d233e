"""The CUCM admin CLI (`admin:`) over SSH, with paramiko's interactive shell.

The CLI is a terminal program, not an API, so this module reads a screen:

- the prompt ``admin:`` is found at the start of a line at the end of the
  output, whatever the line endings (CRLF, bare CR), ANSI colours or
  erase-line sequences (``ESC[K``) around it, and a doubled prompt is absorbed;
- ``set cli pagination off`` is sent first, and the pager is still answered
  if it appears anyway;
- ``(yes|no)?`` questions are answered only as the caller says (an unexpected
  question is answered ``no`` and raised as ``CliError``);
- certificate text is pasted when CUCM asks for it;
- ``utils service restart`` lines are streamed to a callback as they arrive;
- every wait has a deadline: a node that never shows its prompt again ends in
  ``TimeoutError_`` naming node and command, and the session is dropped;
- the password is sent only after the node's host key passed ``_HostKeyCheck``
  (a pin, else ssh.known_hosts); an unknown or changed key is refused with its
  fingerprint, whatever ``host_key_policy`` says.

High-level methods parse the shapes listed in cucm-interfaces.md 2.2 and raise
``CliError`` carrying CUCM's own message when a command fails.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko

from cucmkit.catalogue import MESSAGES
from cucmkit.certs.records import CertRecord, record_from_show_cert
from cucmkit.cucm.models import BackupStatus, ServiceState, ServiceStates
from cucmkit.cucm.sso import SsoCliStatus, parse_sso_cli_status
from cucmkit.errors import CliError, ConnectError, CucmKitError, TimeoutError_, TlsError
from cucmkit.fingerprints import normalize_ssh_sha256, ssh_sha256
from cucmkit.secrets import Secret

__all__ = [
    "AdminCli",
    "CertListing",
    "CliResult",
    "DEFAULT_SSH_PORT",
    "DEFAULT_PROMPT_TIMEOUT",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_RESTART_TIMEOUT",
    "clean_screen",
    "parse_cert_list",
    "parse_service_list",
    "parse_sql_table",
    "parse_backup_status",
    "parse_key_values",
    "host_key_fingerprint",
    "fetch_ssh_host_keys",
    "known_host_fingerprints",
    "known_hosts_name",
    "add_known_hosts",
    "HOST_KEY_POLICIES",
]

log = logging.getLogger(__name__)

INTERFACE = "cli"
DEFAULT_SSH_PORT = 22
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_PROMPT_TIMEOUT = 60.0     # login banner to first prompt (~9 s seen on real nodes)
DEFAULT_COMMAND_TIMEOUT = 120.0
DEFAULT_RESTART_TIMEOUT = 900.0   # `utils service restart` (Tomcat on a busy node takes minutes)

ENTER = "\n"
_READ_SLICE = 0.1                 # seconds per recv poll
_SETTLE = 0.05                    # after a prompt, absorb a doubled prompt arriving right behind it
_BARE_PROMPT_GRACE = 0.5          # a prompt with nothing before it counts only if nothing follows

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
_PROMPT = re.compile(r"(?:^|\n)[ \t]*admin:[ \t]*$")
_PROMPT_LINE = re.compile(r"^[ \t]*admin:[ \t]*$")
_PAGER = re.compile(r"Press <enter> for 1 line, <space> for one page, or <q> to quit[ \t]*")
_FILE_PAGER = re.compile(r"options: q=quit, n=next, p=prev, b=begin, e=end \(lines \d+ - \d+ of \d+\) :[ \t]*")
_QUESTION = re.compile(r"([^\n]*\((?:yes\|no|y/n|yes/no)\)\s*\?)[ \t]*$", re.IGNORECASE)
_PASTE = re.compile(r"Paste the Certificate and Hit Enter[^\n]*")
_FAILURE_MARKERS = ("Executed command unsuccessfully", "No valid command entered", "Invalid command")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_PEM_CSR = re.compile(r"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----.+?-----END (?:NEW )?CERTIFICATE REQUEST-----",
                      re.DOTALL)
_SERVICE_LINE = re.compile(r"^(?P<name>\S.*?)\s*\[\s*(?P<state>[A-Z][A-Z ]*?)\s*\]\s*(?P<reason>.*)$")
_STATE_TEXT = {"STARTED": "Started", "STOPPED": "Stopped", "STARTING": "Starting", "STOPPING": "Stopping"}

Answer = Callable[[str], str | None]
_UNREACHABLE_REMEDY = "check that the node is up and that its address and ssh_port in the parameter file are right"


@dataclass(frozen=True)
class CertListing:
    """One line of ``show cert list own|trust``."""

    unit: str
    filename: str
    description: str

    @property
    def path(self) -> str:
        return f"{self.unit}/{self.filename}"


@dataclass(frozen=True)
class CliResult:
    command: str
    output: str          # what the command printed, without echo, pager or prompt
    questions: tuple[str, ...] = ()
    pages: int = 0       # pager prompts answered


# --------------------------------------------------------------------------- screen handling


def clean_screen(raw: str) -> str:
    """Terminal output as plain text: no ANSI sequences, every line ending a bare ``\\n``."""
    text = _ANSI.sub("", raw)
    text = text.replace("\r\n", "\n")
    text = re.sub(r"\r+\n", "\n", text)
    return text.replace("\r", "\n")


class _Screen:
    """What one command printed so far, and where the next interaction starts."""

    def __init__(self) -> None:
        self.raw = ""
        self.text = ""
        self.cursor = 0        # interactions before this offset are handled
        self.emitted = 0       # lines before this offset went to on_line
        self.cut: list[tuple[int, int]] = []   # pager spans, removed from the output

    def add(self, data: str) -> None:
        self.raw += data
        self.text = clean_screen(self.raw)

    def tail(self) -> str:
        return self.text[self.cursor:]

    def advance(self, end_in_tail: int, *, cut_from: int | None = None) -> None:
        if cut_from is not None:
            self.cut.append((self.cursor + cut_from, self.cursor + end_in_tail))
        self.cursor += end_in_tail

    def new_lines(self) -> list[str]:
        end = self.text.rfind("\n") + 1
        if end <= self.emitted:
            return []
        chunk, self.emitted = self.text[self.emitted:end], end
        return [line for line in chunk.split("\n")[:-1] if not _PAGER.search(line)]

    def output(self, end: int) -> str:
        text, kept, start = self.text[:end], [], 0
        for cut_start, cut_end in sorted(self.cut):
            kept.append(text[start:cut_start])
            start = max(start, cut_end)
        kept.append(text[start:])
        return "".join(kept)


def _strip_output(text: str, command: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and (not lines[0].strip() or _PROMPT_LINE.match(lines[0]) or _is_echo(lines[0], command)):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _PROMPT_LINE.match(lines[-1])):
        lines.pop()
    return "\n".join(line for line in lines if not _PAGER.search(line) and not _FILE_PAGER.search(line))


def _is_echo(line: str, command: str) -> bool:
    text = line.strip()
    return bool(command) and (text == command or text.endswith(f"admin:{command}") or text == f"admin: {command}")


def _meaningful(output: str, limit: int = 6) -> str:
    lines = [line.strip() for line in output.split("\n") if line.strip()]
    return " / ".join(lines[-limit:]) if lines else "no output"


# --------------------------------------------------------------------------- the client


class AdminCli:
    """One interactive ``admin:`` session on one node (opened on first use). A context manager."""

    def __init__(
        self,
        *,
        node: str,
        address: str,
        port: int = DEFAULT_SSH_PORT,
        username: str,
        password: Secret,
        host_key_policy: str = "reject",
        known_hosts: Path | None = None,
        host_key_sha256: Sequence[str] = (),
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if not isinstance(password, Secret):
            raise TypeError("password must be a cucmkit.secrets.Secret")
        self.node = node
        self.address = address or node
        self.port = int(port)
        self.username = username
        self._password = password
        self._pins = tuple(normalize_ssh_sha256(p) for p in host_key_sha256)
        self._known_hosts = known_hosts
        self._policy = _checked_policy(host_key_policy)
        self.prompt_timeout = float(prompt_timeout)
        self.command_timeout = float(command_timeout)
        self.connect_timeout = float(connect_timeout)
        self._client: paramiko.SSHClient | None = None
        self._channel: paramiko.Channel | None = None

    def __repr__(self) -> str:
        return f"AdminCli(node={self.node!r}, address={self.address!r}, port={self.port}, username={self.username!r})"

    def __enter__(self) -> AdminCli:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._channel is not None and not self._channel.closed

    def close(self) -> None:
        channel, client, self._channel, self._client = self._channel, self._client, None, None
        for thing in (channel, client):
            if thing is not None:
                try:
                    thing.close()
                except (OSError, EOFError, paramiko.SSHException):
                    pass  # the session is already gone (paramiko raises EOFError on a dropped one)

    # -- session ----------------------------------------------------------------------------

    def open(self) -> None:
        """Log in, wait for ``admin:``, turn pagination off."""
        if self.connected:
            return
        self.close()
        self._client = self._connect()
        try:
            self._channel = self._client.invoke_shell(term="vt100", width=250, height=50)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise ConnectError(f"no shell on {self.address}:{self.port}: {_reason(exc)}",
                               **self._where("login")) from exc
        self._interact("", operation="login", timeout=self.prompt_timeout, send=False)
        self._interact("set cli pagination off", operation="set cli pagination off", timeout=self.prompt_timeout)

    def _connect(self) -> paramiko.SSHClient:
        """TCP, key exchange, host key check (``_HostKeyCheck``), and only then the password."""
        known = _read_known_hosts(self._known_hosts, node=self.node) if self._known_hosts is not None else None
        client = paramiko.SSHClient()   # it holds no host keys of its own: every key goes through the check
        client.set_missing_host_key_policy(_HostKeyCheck(node=self.node, pins=self._pins, known=known,
                                                         policy=self._policy))
        try:
            client.connect(hostname=self.address, port=self.port, username=self.username,
                           password=self._password.reveal(), timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                           channel_timeout=self.connect_timeout, look_for_keys=False, allow_agent=False,
                           transport_factory=self._transport)
        except Exception as exc:  # noqa: BLE001 - every paramiko/socket failure is mapped here, once
            client.close()
            raise self._map_connect_error(exc) from exc
        return client

    def _transport(self, sock: Any, **kw: Any) -> paramiko.Transport:
        """paramiko's Transport with the key exchange bounded by timeouts.connect (not its fixed 15 s)."""
        transport = paramiko.Transport(sock, **kw)
        transport.handshake_timeout = self.connect_timeout
        return transport

    def _map_connect_error(self, exc: BaseException) -> CucmKitError:
        where, target = self._where("login"), f"{self.address}:{self.port}"
        if isinstance(exc, CucmKitError):   # raised by the host key check
            return exc
        if isinstance(exc, paramiko.AuthenticationException):
            return CliError(f"SSH authentication failed for {self.username}", **where,
                            remedy="check the OS admin password referenced in the parameter file, and that the "
                            "account is not locked")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TimeoutError_(f"no SSH login on {target} within {self.connect_timeout:g} s", **where,
                                 remedy=_UNREACHABLE_REMEDY + "; raise timeouts.connect for a slow node")
        return ConnectError(f"cannot open SSH to {target}: {_reason(exc)}", **where, remedy=_UNREACHABLE_REMEDY)

    def _where(self, operation: str) -> dict[str, Any]:
        return {"node": self.node, "interface": INTERFACE, "operation": operation}

    # -- running commands ----------------------------------------------------------------------

    def run(self, command: str, *, answers: Mapping[str, str] | Answer | None = None, paste: str | None = None,
            on_line: Callable[[str], None] | None = None, timeout: float | None = None,
            check: bool = True) -> CliResult:
        """Run one command and return what it printed. ``answers`` maps question text to a reply."""
        if "\n" in command or "\r" in command:
            raise ValueError("one command line at a time")
        self.open()
        result = self._interact(command, operation=_operation(command), timeout=timeout or self.command_timeout,
                                answers=answers, paste=paste, on_line=on_line)
        if check and any(marker in result.output for marker in _FAILURE_MARKERS):
            raise CliError(_meaningful(result.output), **self._where(_operation(command)))
        return result

    def _interact(self, command: str, *, operation: str, timeout: float, send: bool = True,
                  answers: Mapping[str, str] | Answer | None = None, paste: str | None = None,
                  on_line: Callable[[str], None] | None = None) -> CliResult:
        channel = self._channel
        assert channel is not None
        deadline = time.monotonic() + timeout
        screen, questions = _Screen(), list[str]()
        if send:
            self._drain(channel)
            self._send(channel, command + ENTER, operation)
        bare_since: float | None = None
        while True:
            self._read(channel, screen, deadline, command, operation, timeout)
            for line in screen.new_lines():
                if on_line is not None:
                    on_line(line)
            step = self._step(channel, screen, answers, paste, questions, operation)
            if step == "pasted":
                paste = None
            if step != "prompt":
                bare_since = None
                continue
            prompt = _PROMPT.search(screen.tail())
            assert prompt is not None
            body = screen.output(screen.cursor + prompt.start())
            if send and not _strip_output(body, "").strip():
                bare_since = bare_since or time.monotonic()
                if time.monotonic() - bare_since < _BARE_PROMPT_GRACE:
                    continue
            self._settle(channel)
            output = _strip_output(body, command)
            if questions and any(q.startswith("!") for q in questions):
                raise CliError(f"CUCM asked {questions[-1][1:]!r} and cucmkit was not told to confirm; "
                               "answered no", **self._where(operation))
            return CliResult(command, output, tuple(q.lstrip("!") for q in questions), len(screen.cut))

    def _step(self, channel: paramiko.Channel, screen: _Screen, answers: Mapping[str, str] | Answer | None,
              paste: str | None, questions: list[str], operation: str) -> str:
        tail = screen.tail()
        for pattern, key in ((_PAGER, " "), (_FILE_PAGER, "n")):
            match = pattern.search(tail)
            if match:
                screen.advance(match.end(), cut_from=match.start())
                self._send(channel, key, operation)
                return "pager"
        match = _PASTE.search(tail)
        if match and paste is not None:
            screen.advance(match.end())
            self._send(channel, _paste_text(paste), operation)
            return "pasted"
        match = _QUESTION.search(tail)
        if match:
            question = match.group(1).strip()
            reply = _answer_for(question, answers)
            questions.append(question if reply is not None else "!" + question)
            screen.advance(match.end())
            self._send(channel, (reply if reply is not None else "no") + ENTER, operation)
            return "answered"
        return "prompt" if _PROMPT.search(tail) else "wait"

    def _read(self, channel: paramiko.Channel, screen: _Screen, deadline: float, command: str,
              operation: str, timeout: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.close()
            what = "the admin: prompt" if command == "" else f"the end of `{_short(command)}`"
            raise TimeoutError_(f"no {what} within {timeout:g} s; last output: {_meaningful(screen.text, 2)}",
                                **self._where(operation), remedy="the node's CLI may be hung; retry later")
        channel.settimeout(min(_READ_SLICE, remaining))
        try:
            data = channel.recv(65536)
        except TimeoutError:
            return
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
            raise ConnectError(f"the SSH session broke: {type(exc).__name__}", **self._where(operation)) from exc
        if not data:
            self.close()
            raise ConnectError(f"the CLI session closed; last output: {_meaningful(screen.text, 2)}",
                               **self._where(operation))
        screen.add(data.decode("utf-8", errors="replace"))

    def _send(self, channel: paramiko.Channel, text: str, operation: str) -> None:
        try:
            channel.sendall(text.encode("utf-8"))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
            raise ConnectError(f"the SSH session broke: {type(exc).__name__}", **self._where(operation)) from exc

    def _drain(self, channel: paramiko.Channel) -> None:
        while channel.recv_ready():
            channel.recv(65536)

    def _settle(self, channel: paramiko.Channel) -> None:
        end = time.monotonic() + _SETTLE
        while time.monotonic() < end:
            if channel.recv_ready():
                channel.recv(65536)
            else:
                time.sleep(0.01)

    # -- certificates ------------------------------------------------------------------------

    def list_certs(self, kind: str) -> list[CertListing]:
        """``show cert list own|trust``."""
        return parse_cert_list(self.run(f"show cert list {_kind(kind)}").output)

    def show_cert(self, kind: str, unit_file: str) -> CertRecord:
        """``show cert own|trust <unit>/<file>`` as a CertRecord."""
        kind = _kind(kind)
        unit, _, filename = unit_file.partition("/")
        if not unit or not filename:
            raise ValueError("unit_file is '<unit>/<file>', e.g. 'tomcat/tomcat.pem'")
        output = self.run(f"show cert {kind} {unit_file}").output
        if "-----BEGIN CERTIFICATE-----" not in output and "Subject Name" not in output:
            raise CliError(_meaningful(output), **self._where(f"show cert {kind}"))
        if kind == "own":
            return record_from_show_cert(output, node=self.node, purpose=unit, store="own", filename=filename)
        purpose = unit[: -len("-trust")] if unit.endswith("-trust") else None
        return record_from_show_cert(output, node=self.node, purpose=purpose, store=unit, filename=filename)

    def csr_gen(self, unit: str, *, include_ou: bool = True) -> str:
        """``set csr gen <unit>`` (answers the OU question); returns CUCM's success line."""
        result = self.run(f"set csr gen {_word(unit)}",
                          answers={"Include OU": "yes" if include_ou else "no"})
        return self._expect(result, r"Successfully\s+Generated\s+CSR")

    def show_csr(self, unit: str) -> str | None:
        """The pending CSR of ``unit`` as PEM, or None when there is none."""
        output = self.run(f"show csr own {_word(unit)}", check=False).output
        match = _PEM_CSR.search(output)
        if match:
            return match.group(0).strip() + "\n"
        if re.search(r"does not exist|not exist|no csr|not found", output, re.IGNORECASE):
            return None
        raise CliError(_meaningful(output), **self._where("show csr own"))

    def import_cert(self, kind: str, unit: str, pem: str) -> str:
        """``set cert import own|trust <unit>`` pasting ``pem``; returns CUCM's success lines.

        Both kinds take the unit (``tomcat``), not the trust store's name: the CLI reference gives
        ``set cert import trust tomcat``, answered "Successfully imported certificate for tomcat."
        """
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError("pem must hold a PEM certificate")
        if unit.lower().endswith("-trust"):
            raise ValueError(f"set cert import takes the unit, not the store: use "
                             f"{unit[: -len('-trust')]!r}, not {unit!r}")
        result = self.run(f"set cert import {_kind(kind)} {_word(unit)}", paste=pem, check=False)
        if kind == "trust" and MESSAGES.not_replaced_older in result.output:
            return MESSAGES.not_replaced_older   # CUCM kept the newer one: the caller verifies by fingerprint
        return self._expect(result, r"Successfully imported certificate")

    def regen(self, unit: str) -> str:
        """``set cert regen <unit>`` (self-signed; confirms the overwrite warning)."""
        result = self.run(f"set cert regen {_word(unit)}", answers={"Proceed with regeneration": "yes"})
        return self._expect(result, r"Successfully Regenerated Certificate")

    def delete_trust(self, store: str, filename: str) -> str:
        """``set cert delete trust <store> <file>`` (confirms)."""
        result = self.run(f"set cert delete trust {_word(store)} {_word(filename)}",
                          answers={"proceed": "yes"}, check=False)
        return self._expect(result, r"Successfully deleted")

    # -- services ------------------------------------------------------------------------------

    def service_list(self) -> ServiceStates:
        return parse_service_list(self.run("utils service list").output)

    def service_restart(self, name: str, *, on_line: Callable[[str], None] | None = None,
                        timeout: float = DEFAULT_RESTART_TIMEOUT) -> ServiceState:
        """``utils service restart <name>``, streaming lines; the final state must be Started."""
        last: dict[str, ServiceState] = {}

        def watch(line: str) -> None:
            state = _service_state(line)
            if state is not None and state.name.casefold() == name.strip().casefold():
                last["state"] = state
            if on_line is not None:
                on_line(line)

        result = self.run(f"utils service restart {name}", on_line=watch, timeout=timeout, check=False)
        state = last.get("state") or parse_service_list(result.output).get(name)
        if state is None or not state.started:
            status = state.status if state else "unknown"
            raise CliError(f"{name} did not start (last status {status}): {_meaningful(result.output, 3)}",
                           **self._where("utils service restart"), service=name)
        return state

    # -- cluster-level --------------------------------------------------------------------------

    def ctl_update(self) -> str:
        """``utils ctl update CTLFile`` (publisher, mixed mode)."""
        output = self.run("utils ctl update CTLFile", answers={"": "yes"}, check=True).output
        if re.search(r"not allowed|not in Mixed Mode|error|failed", output, re.IGNORECASE):
            raise CliError(_meaningful(output), **self._where("utils ctl update"))
        return output

    def backup_status(self) -> BackupStatus:
        return parse_backup_status(self.run("utils disaster_recovery status backup").output)

    def restore_status(self) -> BackupStatus:
        """``utils disaster_recovery status restore`` (same layout as the backup status)."""
        return parse_backup_status(self.run("utils disaster_recovery status restore").output)

    def sso_status(self) -> SsoCliStatus:
        """``utils sso status`` of this node (TAC 217268's layout); only its ``SSO Status:`` line decides."""
        output = self.run("utils sso status").output
        status = parse_sso_cli_status(output)
        if status is None:
            raise CliError(f"cannot read the SSO status: {_meaningful(output)}", **self._where("utils sso status"))
        return status

    def run_sql(self, query: str) -> list[dict[str, str]]:
        """``run sql <query>`` as rows (column -> text)."""
        return parse_sql_table(self.run(f"run sql {query.strip()}").output)

    def show_web_security(self) -> dict[str, str]:
        return parse_key_values(self.run("show web-security").output)

    def set_web_security(self, *, orgunit: str, orgname: str, locality: str, state: str,
                         country: str | None = None, alternatehostname: str | None = None) -> str:
        """``set web-security ...``: regenerates the self-signed tomcat certificate (restart Tomcat after)."""
        words = [orgunit, orgname, locality, state] + [w for w in (country, alternatehostname) if w]
        result = self.run("set web-security " + " ".join(_quoted(w) for w in words), answers={"": "yes"})
        return result.output

    def _expect(self, result: CliResult, pattern: str) -> str:
        lines = [line.strip() for line in result.output.split("\n") if line.strip()]
        found = next((i for i, line in enumerate(lines) if re.search(pattern, line, re.IGNORECASE)), None)
        if found is not None:
            return "\n".join(lines[found:])
        raise CliError(_meaningful(result.output), **self._where(_operation(result.command)))


# --------------------------------------------------------------------------- helpers & parsers


_OUT_OF_BAND = ("through a channel you trust (the platform team that built the node, the hypervisor console, "
                "an older known_hosts): the admin CLI offers no ssh-keygen")
_PIN_REMEDY = ("if the node was reinstalled or its host key regenerated on purpose, check the new fingerprint "
               f"(`cucmkit trust fetch -f PARAMS` shows it) {_OUT_OF_BAND}, then remove the node's old entry from "
               "ssh.known_hosts (`ssh-keygen -R '[address]:port' -f FILE`) and run `cucmkit trust accept`, or update "
               "nodes[].ssh_host_key_sha256; otherwise treat it as an attack and do not connect")
HOST_KEY_POLICIES = ("reject", "warn")   # both refuse an unknown key; "warn" is read from old parameter files


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:<base64>`` fingerprint of a host key (``cucmkit.fingerprints.ssh_sha256``)."""
    return ssh_sha256(key.asbytes())


_PROBE_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512")
_PROBE_LOG = "cucmkit.cucm.cli.hostkey_probe"   # paramiko's chatter about key types a node lacks
logging.getLogger(_PROBE_LOG).setLevel(logging.CRITICAL)


def fetch_ssh_host_keys(address: str, port: int, *, node: str,
                        timeout: float = DEFAULT_CONNECT_TIMEOUT) -> list[paramiko.PKey]:
    """The SSH host keys a node offers (one handshake per key type, never a login); NOT verified.

    Used by ``cucmkit trust fetch`` / ``trust accept`` to show fingerprints to check out of band.
    """
    keys: list[paramiko.PKey] = []
    where = {"node": node, "interface": INTERFACE, "operation": "fetch host key"}
    for key_type in _PROBE_KEY_TYPES:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except TimeoutError as exc:
            raise TimeoutError_(f"no TCP connection to SSH at {address}:{port} within {timeout:g} s", **where,
                                remedy=_UNREACHABLE_REMEDY) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to SSH at {address}:{port}: {exc.strerror or exc}", **where,
                               remedy=_UNREACHABLE_REMEDY) from exc
        transport = paramiko.Transport(sock)
        transport.set_log_channel(_PROBE_LOG)
        try:
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.get_security_options().key_types = (key_type,)
            transport.start_client(timeout=timeout)
            keys.append(transport.get_remote_server_key())
        except (paramiko.SSHException, EOFError, OSError):
            continue   # the node does not offer this key type
        finally:
            transport.close()
    return keys


def known_hosts_name(address: str, port: int) -> str:
    """The host name known_hosts files use for ``address:port`` (``[address]:port`` off port 22)."""
    return address if port == DEFAULT_SSH_PORT else f"[{address}]:{port}"


def _read_known_hosts(known_hosts: Path, *, node: str = "") -> paramiko.HostKeys:
    try:
        return paramiko.HostKeys(str(known_hosts))
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise TlsError(f"ssh.known_hosts file {known_hosts} cannot be read ({type(exc).__name__})",
                       node=node or None, interface=INTERFACE, operation="login",
                       remedy="fix ssh.known_hosts in the parameter file, or write it with "
                       "`cucmkit trust accept -f PARAMS` (for the lab: run `cucmkit lab start` first).") from None


def known_host_fingerprints(known_hosts: Path, address: str, port: int) -> list[str]:
    """Fingerprints a known_hosts file holds for ``[address]:port`` (empty when none or unreadable)."""
    try:
        entries = _read_known_hosts(known_hosts)
    except TlsError:
        return []
    lookup = entries.lookup(known_hosts_name(address, port))
    return [host_key_fingerprint(lookup[k]) for k in lookup.keys()] if lookup else []


def add_known_hosts(known_hosts: Path, address: str, port: int, keys: Sequence[paramiko.PKey]) -> list[str]:
    """Append ``keys`` for ``address:port`` to ``known_hosts`` (created if missing); returns the fingerprints added.

    A key already there is skipped; a DIFFERENT key of the same type already there is refused
    (``TlsError``): a changed host key is never overwritten by a command.
    """
    name = known_hosts_name(address, port)
    existing = _read_known_hosts(known_hosts).lookup(name) if known_hosts.exists() else None
    lines, added = [], []
    for key in keys:
        held = existing.get(key.get_name()) if existing is not None else None
        if held is not None and held.asbytes() != key.asbytes():
            raise TlsError(f"{known_hosts} already holds another {key.get_name()} key for {name} "
                           f"({host_key_fingerprint(held)}); the node now offers {host_key_fingerprint(key)}",
                           interface=INTERFACE, operation="trust accept", remedy=_PIN_REMEDY)
        if held is None:
            lines.append(f"{name} {key.get_name()} {key.get_base64()}\n")
            added.append(host_key_fingerprint(key))
    if lines:
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with known_hosts.open("a", encoding="ascii") as out:
            out.writelines(lines)
    return added


def _checked_policy(policy: object) -> str:
    if not isinstance(policy, str) or policy not in HOST_KEY_POLICIES:
        raise ValueError(f"host_key_policy must be one of {list(HOST_KEY_POLICIES)}; cucmkit never logs in to "
                         "an SSH host key that neither ssh.known_hosts nor a pin vouches for")
    return policy


class _HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """The one host key check, run after the key exchange and BEFORE any authentication.

    paramiko's client is given no host keys of its own, so it asks this policy about
    every key: a pinned node must offer a pinned key; otherwise the key must be the
    one ssh.known_hosts holds for ``[address]:port``. Anything else is refused, naming
    the offered fingerprint and how to trust it knowingly.
    """

    def __init__(self, *, node: str, pins: tuple[str, ...], known: paramiko.HostKeys | None, policy: str) -> None:
        self.node, self.pins, self.known, self.policy = node, pins, known, policy

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = host_key_fingerprint(key)
        where = {"node": self.node, "interface": INTERFACE, "operation": "login"}
        if self.pins:
            if offered in self.pins:
                return
            raise TlsError(f"the SSH host key of {self.node} ({offered}) does not match "
                           f"nodes[].ssh_host_key_sha256 ({', '.join(self.pins)})", **where, remedy=_PIN_REMEDY)
        entries = self.known.lookup(hostname) if self.known is not None else None
        held = entries.get(key.get_name()) if entries is not None else None
        if held is not None and held.asbytes() == key.asbytes():
            return
        if held is not None:
            raise TlsError(f"the SSH host key of {self.node} at {hostname} changed: it offers {key.get_name()} "
                           f"{offered}, ssh.known_hosts holds {host_key_fingerprint(held)}", **where,
                           remedy=_PIN_REMEDY)
        raise TlsError(f"the SSH host key of {self.node} ({hostname}) is not known, so cucmkit did not log in: "
                       f"it offers {key.get_name()} {offered}" + self._policy_note(), **where,
                       remedy=f"check that fingerprint {_OUT_OF_BAND}, then trust it with "
                       "`cucmkit trust accept -f PARAMS` (writes ssh.known_hosts) or pin it per node: "
                       f"nodes[].ssh_host_key_sha256: {offered}")

    def _policy_note(self) -> str:
        if self.policy == "warn":
            return " (ssh.host_key_policy 'warn' no longer logs in to an unverified host)"
        return ""


def _reason(exc: BaseException) -> str:
    """Short text for a socket/paramiko failure (paramiko's messages carry no credentials)."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))     # one OSError per address tried: the first says why
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _answer_for(question: str, answers: Mapping[str, str] | Answer | None) -> str | None:
    if answers is None:
        return None
    if callable(answers):
        return answers(question)
    for key, reply in answers.items():
        if key.lower() in question.lower():
            return reply
    return None


def _paste_text(pem: str) -> str:
    lines = [line.strip() for line in pem.strip().splitlines() if line.strip()]
    return ENTER.join(lines) + ENTER + ENTER


def _operation(command: str) -> str:
    words = command.split()
    return " ".join(words[:3]) if words else "login"


def _short(command: str) -> str:
    return command if len(command) <= 80 else command[:77] + "..."


def _kind(kind: str) -> str:
    if kind not in ("own", "trust"):
        raise ValueError("kind is 'own' or 'trust'")
    return kind


def _word(value: str) -> str:
    text = value.strip()
    if not text or any(c in text for c in "\r\n;|&`$"):
        raise ValueError(f"not a valid CLI argument: {value!r}")
    return text


def _quoted(value: str) -> str:
    text = _word(value)
    if '"' in text:
        raise ValueError(f"not a valid CLI argument: {value!r}")
    return f'"{text}"' if " " in text else text


def parse_cert_list(output: str) -> list[CertListing]:
    """``<unit>/<file>.pem: <description>`` lines."""
    found = []
    for line in output.split("\n"):
        match = re.match(r"^\s*([^\s/:]+)/([^\s:]+)\s*:\s*(.*)$", line)
        if match:
            found.append(CertListing(match.group(1), match.group(2), match.group(3).strip()))
    return found


def _service_state(line: str) -> ServiceState | None:
    match = _SERVICE_LINE.match(line.strip())
    if not match:
        return None
    word = match.group("state").strip().upper()
    reason = match.group("reason").strip()
    activated = "not activated" not in reason.lower()
    status = _STATE_TEXT.get(word, "Unknown")
    return ServiceState(name=match.group("name").strip(), status=status, activated=activated,
                        reason_code=-1 if not reason else (-1068 if not activated else -1019), reason=reason)


def parse_service_list(output: str) -> ServiceStates:
    """``Name[STARTED]`` / ``Name[STOPPED]  Service Not Activated`` lines; the last line per name wins;
    looked up case-insensitively, as CUCM matches service names."""
    return ServiceStates(state for line in output.split("\n") if (state := _service_state(line)) is not None)


def parse_sql_table(output: str) -> list[dict[str, str]]:
    """``run sql`` output: a header, a ``=====`` rule whose dashes give the column widths, then rows."""
    lines = output.split("\n")
    rule_at = next((i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= {"=", " "}), None)
    if rule_at is None or rule_at == 0:
        return []
    spans = [m.span() for m in re.finditer(r"=+", lines[rule_at])]
    header = _cells(lines[rule_at - 1], spans)
    rows = []
    for line in lines[rule_at + 1:]:
        if not line.strip() or _PROMPT_LINE.match(line):
            continue
        rows.append(dict(zip(header, _cells(line, spans), strict=False)))
    return rows


def _cells(line: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    cells = []
    for index, (start, _end) in enumerate(spans):
        stop = spans[index + 1][0] if index + 1 < len(spans) else len(line)
        cells.append(line[start:stop].strip())
    return [("" if cell == "NULL" else cell) for cell in cells]


def parse_key_values(output: str) -> dict[str, str]:
    values = {}
    for line in output.split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def parse_backup_status(output: str) -> BackupStatus:
    """``utils disaster_recovery status backup|restore``: ``Status:``, ``Tar Filename:``, ``Storage Location:``,
    ``Operation:``, ``Percentage Complete:`` and per-component rows, or ``drfCliMsg: No backup status
    available`` (restore: ``No restore status available`` [INF]) when there is nothing to report."""
    if re.search(r"No (backup|restore) status available", output, re.IGNORECASE):
        return BackupStatus(status="", in_progress=False, available=False)
    fields = {k.lower(): v for k, v in parse_key_values(output).items()}
    status = fields.get("status", "").split("::")[0].strip()
    detail = fields.get("status", "")
    percent = re.search(r"\d+", fields.get("percentage complete", ""))
    percentage = int(percent.group(0)) if percent else None
    in_progress = bool(re.search(r"progress|running|started|active", detail, re.IGNORECASE)) or (
        percentage is not None and percentage < 100 and not re.search(r"error|fail|success", status, re.IGNORECASE))
    return BackupStatus(status=status, in_progress=in_progress, operation=fields.get("operation", ""),
                        percentage=percentage, tar_filename=fields.get("tar filename", ""),
                        storage_location=fields.get("storage location", ""))
