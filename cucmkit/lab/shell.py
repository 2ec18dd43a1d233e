"""The ``admin:`` command line of a lab node, without any transport.

``AdminShell`` is fed what a terminal would send (characters, possibly many
at once) and writes what CUCM's platform CLI would show: the login banner,
the ``admin:`` prompt, echo of typed characters, CRLF line endings, the bold
ANSI pager after 24 lines (unless ``set cli pagination off``), ``(yes|no)?``
confirmations, pasted certificates ended by an empty line, and service
restarts streamed as they progress. ``cucmkit.lab.ssh`` puts it behind a
paramiko server; tests can drive it directly.

Every certificate rule, and its message, comes from ``LabState`` (the same
methods the REST door calls), so both doors answer alike. Outputs marked
[INF] in docs/CONTRACTS.md 1.6 and cucm-interfaces.md 2.2 are kept in the
constants below so one edit corrects them.

Commands are generators: a command that needs an answer yields an ``Ask``
and receives the typed line (or the pasted block) back.
"""

from __future__ import annotations

import logging
import re
import shlex
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES

__all__ = [
    "AdminShell",
    "Ask",
    "BANNER",
    "PROMPT",
    "PAGER_PROMPT",
    "PAGE_LINES",
    "CRLF",
    "fault_active",
    "show_cert_text",
    "sql_table",
]

log = logging.getLogger(__name__)

CRLF = "\r\n"
PROMPT = "admin:"
PAGE_LINES = 24
# the pager prompt (unicon's vos pattern ends at ESC[0m); the key that answers it erases it once (_PAGER_CLEAR)
PAGER_PROMPT = "\x1b[1mPress <enter> for 1 line, <space> for one page, or <q> to quit\x1b[0m"
_PAGER_CLEAR = "\r\x1b[K"
BANNER: tuple[str, ...] = (
    "Command Line Interface is starting up, please wait ...",
    "",
    "   Welcome to the Platform Command Line Interface",
    "",
    "VMware Installation:",
    "\t2 vCPU: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
    "\tDisk 1: 110GB, Partitions aligned",
    "\t8192 Mbytes RAM",
    "",
)
DEFAULT_VERSION = "14.0.1.13900-155"

# --- messages (CONTRACTS 1.6; [INF] where CUCM's wording is not public) -----------------------
UNSUCCESSFUL = "Executed command unsuccessfully"
NO_VALID_COMMAND = "No valid command entered"
INCOMPLETE = "Incomplete command. Parameter missing"                                    # [INF]
INVALID_UNIT = "Invalid certificate type {unit} for this server"                         # as LabState says
INVALID_FILE = "Certificate {name} does not exist"                                       # [INF]
PAGINATION_OFF = "Automatic pagination is turned off"
PAGINATION_ON = "Automatic pagination is turned on"                                      # [INF]
INCLUDE_OU = "Include OU in CSR (yes|no)?"
CSR_OK = "Successfully Generated CSR for {unit}."
PASTE = "Paste the Certificate and Hit Enter"
REGEN_WARNING = "WARNING: This operation will overwrite any CA signed certificate previously imported for  {unit}"
REGEN_ASK = "Proceed with regeneration (yes|no)?"
REGEN_OK = "Successfully Regenerated Certificate for {unit}."
REGEN_HINT = "You must restart services related to {unit} for the regenerated certificates to become active."
# ``set cert regen ITLRecovery`` (CLI reference): its own warning, then the same question
REGEN_ITL_WARNING = (
    "WARNING: If you are using a tokenless CTL and if the CallManager certificate is recently generated, "
    "please ensure that the CTL File already has the new CallManager certificate and is updated to the "
    "endpoints, before generating the ITL Recovery certificate. Are you sure want to proceed?"
)
REGEN_ITL_HINT = "You must restart the services related to ITLRecovery for the regenerated certificates to become active."
DELETE_ASK = "Do you wish to proceed (yes|no)?"
DELETE_OK = "Successfully deleted certificate {file}."
MULTI_SERVER_CLI_LAST_BEFORE = "14.0.1.12900"   # 14SU2: multi-server uploads leave the CLI
MULTI_SERVER_CLI_REFUSED = ("Multi-server certificate upload for {unit} is not supported from the CLI. "
                            "Upload it in Cisco Unified OS Administration or through the certificate management API.")  # [INF]
CANCELLED = "Operation cancelled"                                                        # [INF]
NO_CTL = "This cluster is not in Mixed Mode. CTL update is not allowed"
CTL_NOT_PUBLISHER = "This command can only be run on the publisher"                      # [INF]
RESTART_HEADER = (
    "Do not press Ctrl+C while the service is restarting. If the service has not restarted properly, "
    "execute the same command again."
)
SERVICE_MANAGER = "Service Manager is running"
NO_SUCH_SERVICE = "Invalid service name: {name}"                                         # [INF]
NOT_ACTIVATED = "{name}[STOPPED]  Service Not Activated"
NOT_RUNNING = "{name}[STOPPED]  Component is not running"
COMMANDED_OUT = "Commanded Out of Service"
SQL_ERROR = "The specified table ({table}) is not in the database."                      # [INF]
SQL_SYNTAX = "A syntax error has occurred."                                              # [INF]
WEB_SECURITY_HINT = "Please restart Cisco Tomcat for the new web-security settings to take effect."  # [INF]

_STATUS_WORD = {"Started": "STARTED", "Starting": "STARTING", "Stopping": "STOPPING", "Stopped": "STOPPED"}
_YES = {"yes", "y"}


@dataclass(frozen=True)
class Ask:
    """A question a command asks. ``paste`` collects lines until an empty one."""

    prompt: str
    paste: bool = False


Command = Generator[Ask, str, None]
Handler = Callable[["AdminShell", str], Command]


# --- what the shell needs from LabState, in one place ------------------------------------------


def fault_active(state: Any, node: Any, name: str) -> bool:
    """Whether fault ``name`` is on for ``node`` (tolerates the few shapes a Faults object may take)."""
    faults = getattr(state, "faults", None)
    if faults is None:
        return False
    node_name = getattr(node, "name", node)
    for method in ("active", "is_on", "is_active", "get"):
        fn = getattr(faults, method, None)
        if callable(fn):
            try:
                return bool(fn(node_name, name))
            except (KeyError, TypeError):
                continue
    return False


def _refusal_message(exc: BaseException) -> str | None:
    """CUCM's message of a LabRefusal (duck-typed so the shell has no import cycle with state)."""
    if type(exc).__name__ == "LabRefusal":
        return str(getattr(exc, "message", None) or exc)
    return None


def _pem_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    for attr in ("pem", "cert_pem", "certificate"):
        pem = getattr(value, attr, None)
        if isinstance(pem, str):
            return pem
    raise TypeError(f"no PEM in {type(value).__name__}")


def _load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


# --- show cert text (CONTRACTS 1.6) ------------------------------------------------------------


def _java_date(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


_SIG_NAMES = {
    "1.2.840.113549.1.1.11": "SHA256withRSA",
    "1.2.840.113549.1.1.12": "SHA384withRSA",
    "1.2.840.113549.1.1.13": "SHA512withRSA",
    "1.2.840.113549.1.1.5": "SHA1withRSA",
    "1.2.840.10045.4.3.2": "SHA256withECDSA",
    "1.2.840.10045.4.3.3": "SHA384withECDSA",
    "1.2.840.10045.4.3.4": "SHA512withECDSA",
}
_KU_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def _key_lines(cert: x509.Certificate) -> list[str]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        head = "  Key: RSA (1.2.840.113549.1.1.1)"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        head = f"  Key: EC (1.2.840.10045.2.1) {key.curve.name}"
    else:
        head = "  Key: unknown"
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return [head, "    Key value:", der.hex()]


_JAVA_EXTENSION_NAMES = {"ExtendedKeyUsage": "ExtKeyUsageSyntax", "SubjectAlternativeName": "SubjectAlternativeName"}


def _extension_lines(cert: x509.Certificate) -> list[str]:
    blocks: list[list[str]] = []
    for ext in cert.extensions:
        body = _extension_body(ext)
        name = _JAVA_EXTENSION_NAMES.get(type(ext.value).__name__, type(ext.value).__name__)
        blocks.append(
            ["  [", f"     Extension: {name} (OID.{ext.oid.dotted_string})", f"     Critical: {str(ext.critical).lower()}"]
            + [f"     {line}" for line in body]
            + ["  ]"]
        )
    lines = [f"  Extensions: {len(blocks)} present"]
    for block in blocks:
        lines.extend(block)
    return lines


def _extension_body(ext: x509.Extension[Any]) -> list[str]:
    value = ext.value
    if ext.oid == ExtensionOID.KEY_USAGE:
        used = [label for attr, label in _KU_NAMES if getattr(value, attr)]
        if value.key_agreement:
            pairs = ((value.encipher_only, "encipherOnly"), (value.decipher_only, "decipherOnly"))
            used += [label for flag, label in pairs if flag]
        return ["Usages: " + "".join(f"{u}, " for u in used).rstrip()]
    if ext.oid == ExtensionOID.EXTENDED_KEY_USAGE:
        return ["Usage oids: " + "".join(f"{oid.dotted_string}, " for oid in value).rstrip()]
    if ext.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
        return ["Subject Alternative Names:"] + [f"   {_general_name(n)}" for n in value]
    if ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
        path = "" if value.path_length is None else f", PathLen: {value.path_length}"
        return [f"CA: {str(value.ca).lower()}{path}"]
    if ext.oid in (ExtensionOID.SUBJECT_KEY_IDENTIFIER,):
        return [f"KeyID: {value.digest.hex()}"]
    if ext.oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER and value.key_identifier:
        return [f"KeyID: {value.key_identifier.hex()}"]
    return []


def _general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"dNSName: {name.value}"
    if isinstance(name, x509.IPAddress):
        return f"iPAddress: {name.value}"
    return f"{type(name).__name__}: {name.value}"


def show_cert_text(pem: str) -> list[str]:
    """The lines CUCM prints for ``show cert own|trust``: a Java-style dump, then the PEM."""
    cert = _load(pem)
    sig_oid = cert.signature_algorithm_oid.dotted_string
    lines = [
        "[",
        "  Version: V3",
        f"  Serial Number: {cert.serial_number}",
        f"  SignatureAlgorithm: {_SIG_NAMES.get(sig_oid, sig_oid)} ({sig_oid})",
        f"  Issuer Name: {cert.issuer.rfc4514_string()}",
        f"  Validity From: {_java_date(cert.not_valid_before_utc)}",
        f"           To:   {_java_date(cert.not_valid_after_utc)}",
        f"  Subject Name: {cert.subject.rfc4514_string()}",
    ]
    lines += _key_lines(cert) + _extension_lines(cert) + ["]"]
    text = cert.public_bytes(serialization.Encoding.PEM).decode()
    return lines + text.strip().splitlines()


# --- run sql -----------------------------------------------------------------------------------


def sql_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """CUCM's ``run sql`` layout: header, ``=`` underline, rows; every column padded."""
    body = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    fmt = lambda cells: " ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " "  # noqa: E731
    return [fmt(columns), fmt(["=" * w for w in widths])] + [fmt(r) for r in body]


# --- the shell -------------------------------------------------------------------------------


class AdminShell:
    """One ``admin:`` session on one lab node.

    ``write`` receives output text (CRLF line ends, ANSI codes included).
    ``feed`` takes input as a terminal sends it; it may block while a command
    streams (a service restart), exactly like the real CLI.
    """

    def __init__(
        self,
        *,
        state: Any,
        node: Any,
        write: Callable[[str], None],
        username: str = "admin",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float | None = None,
        restart_timeout: float = 900.0,
    ) -> None:
        self._state = state
        self._node = state.node(node) if isinstance(node, str) and hasattr(state, "node") else node
        self._write = write
        self.username = username
        self._sleep = sleep
        self._clock = clock
        self._poll = poll_seconds
        self._restart_timeout = restart_timeout
        self.pagination = True
        self.command_count = 0   # commands entered in this session (``show myself``)
        self.closed = False
        self._line = ""
        self._last_cr = False
        self._escape = ""
        self._command: Command | None = None
        self._asking: Ask | None = None
        self._pasted: list[str] = []
        self._out: list[str] = []
        self._pending: list[str] = []
        self._paging = False

    # -- session ----------------------------------------------------------------------------

    def start(self, *, login_delay: float = 0.0) -> None:
        """Write the login banner and the first prompt (CUCM takes a while between the two)."""
        self._write(BANNER[0] + CRLF)
        if login_delay > 0:
            self._sleep(login_delay)
        self._write(CRLF.join(BANNER[1:]) + CRLF)
        self._prompt()

    def feed(self, data: str) -> None:
        """Process input characters (a single key, a line, or a pasted block)."""
        for ch in data:
            if self.closed:
                return
            self._key(ch)

    def _prompt(self) -> None:
        self._write(PROMPT)

    # -- keystrokes -------------------------------------------------------------------------

    def _key(self, ch: str) -> None:
        if self._escape or ch == "\x1b":
            self._escape = "" if (self._escape and ch.isalpha() or ch == "~") else self._escape + ch
            return
        was_cr, self._last_cr = self._last_cr, ch == "\r"
        if ch == "\n" and was_cr:
            return
        if self._paging:
            self._pager_key(ch)
        elif ch in "\r\n":
            self._enter()
        elif ch in "\x7f\x08":
            self._backspace()
        elif ch == "\x03":
            self._interrupt()
        elif ch == "\x04" and not self._line and self._command is None:
            self.closed = True
        elif ch == "\t" or ch.isprintable():
            self._line += ch
            self._write(ch)

    def _backspace(self) -> None:
        if self._line:
            self._line = self._line[:-1]
            self._write("\b \b")

    def _interrupt(self) -> None:
        self._line = ""
        self._command = None
        self._asking = None
        self._pasted = []
        self._out = []
        self._write("^C" + CRLF)
        self._prompt()

    def _enter(self) -> None:
        line, self._line = self._line, ""
        self._write(CRLF)
        if self._command is not None:
            self._answer(line)
        else:
            self._run(line)

    # -- commands ---------------------------------------------------------------------------

    def _run(self, line: str) -> None:
        if not line.strip():
            self._prompt()
            return
        handler, rest = _lookup(line)
        self.command_count += 1
        if handler is None:
            self.say(UNSUCCESSFUL, NO_VALID_COMMAND)
            self._finish()
            return
        self._command = _invoke(handler, self, rest)
        self._step(None)

    def _answer(self, line: str) -> None:
        ask = self._asking
        if ask is not None and ask.paste:
            if line.strip():
                self._pasted.append(line)
                return
            line, self._pasted = "\n".join(self._pasted) + "\n", []
        self._step(line)

    def _step(self, answer: str | None) -> None:
        assert self._command is not None
        try:
            ask = self._command.send(answer) if answer is not None else next(self._command)
        except StopIteration:
            self._command = None
            self._asking = None
            self._finish()
            return
        except Exception as exc:  # noqa: BLE001 - the session must survive a lab bug
            self._command = None
            self._asking = None
            message = _refusal_message(exc)
            if message is None:
                log.exception("admin CLI command failed on %s", getattr(self._node, "name", "?"))
                self._out += [UNSUCCESSFUL, f"Internal error: {type(exc).__name__}"]
            else:
                self._out.append(message)
            self._finish()
            return
        self._asking = ask
        self._flush()
        self._write(ask.prompt + (CRLF if ask.paste else ""))

    def _finish(self) -> None:
        lines, self._out = self._out, []
        if self.closed:
            self._flush_lines(lines)
            return
        self._page(lines)

    # -- output -----------------------------------------------------------------------------

    def say(self, *lines: str) -> None:
        """Queue output lines; they are shown (paged) when the command ends or asks."""
        for line in lines:
            self._out.extend(line.split("\n") if "\n" in line else [line])

    def emit(self, line: str) -> None:
        """Write a line now (streamed output, never paged)."""
        self._flush()
        self._write(line + CRLF)

    def _flush(self) -> None:
        lines, self._out = self._out, []
        self._flush_lines(lines)

    def _flush_lines(self, lines: Sequence[str]) -> None:
        if lines:
            self._write("".join(line + CRLF for line in lines))

    def _page(self, lines: list[str]) -> None:
        if not self.pagination or len(lines) <= PAGE_LINES:
            self._flush_lines(lines)
            self._prompt()
            return
        self._flush_lines(lines[:PAGE_LINES])
        self._pending = lines[PAGE_LINES:]
        self._paging = True
        self._write(PAGER_PROMPT)

    def _pager_key(self, ch: str) -> None:
        if ch in "\r\n":
            count = 1
        elif ch == " ":
            count = PAGE_LINES
        elif ch in "qQ":
            self._pending = []
            count = 0
        else:
            return
        self._write(_PAGER_CLEAR)
        shown, self._pending = self._pending[:count], self._pending[count:]
        self._flush_lines(shown)
        if self._pending:
            self._write(PAGER_PROMPT)
        else:
            self._paging = False
            self._prompt()

    # -- helpers used by the commands --------------------------------------------------------

    @property
    def node(self) -> Any:
        return self._node

    @property
    def state(self) -> Any:
        return self._state

    def sleep_poll(self) -> None:
        self._sleep(self.poll_seconds())

    def poll_seconds(self) -> float:
        if self._poll is not None:
            return self._poll
        knobs = getattr(self._state, "knobs", None)
        restart = float(getattr(knobs, "restart_seconds", 10.0) or 10.0)
        speed = float(getattr(knobs, "speed", 1.0) or 1.0)
        return max(0.02, min(1.0, restart * speed / 10.0))

    def now(self) -> float:
        return self._clock()

    @property
    def restart_timeout(self) -> float:
        return self._restart_timeout


# --- command table -----------------------------------------------------------------------------

_TABLE: list[tuple[tuple[str, ...], Handler]] = []


def _command(*words: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _TABLE.append((words, fn))
        _TABLE.sort(key=lambda item: -len(item[0]))
        return fn

    return register


def _lookup(line: str) -> tuple[Handler | None, str]:
    words = line.split()
    lowered = [w.lower() for w in words]
    for key, handler in _TABLE:
        if tuple(lowered[: len(key)]) == key:
            parts = line.split(None, len(key))
            return handler, parts[len(key)].strip() if len(parts) > len(key) else ""
    return None, ""


def _invoke(handler: Handler, sh: AdminShell, rest: str) -> Command:
    """Run a handler inside the session's generator, so even its first line is guarded."""
    result = handler(sh, rest)
    if result is not None:
        yield from result


def _nothing() -> Command:
    return
    yield  # pragma: no cover - makes this a generator


def _fail(sh: AdminShell, *lines: str) -> None:
    sh.say(UNSUCCESSFUL, *lines)


def _confirmed(answer: str) -> bool:
    return answer.strip().lower() in _YES



# --- units and stores --------------------------------------------------------------------------


def _own(sh: AdminShell) -> dict[str, Any]:
    return dict(sh.node.own())


def _unit(sh: AdminShell, name: str) -> str | None:
    """The node's unit (purpose) called ``name``, case-insensitively; None if it has none."""
    name = name.strip().split("/")[0]
    for unit in _own(sh):
        if unit.lower() == name.lower():
            return unit
    return None


def _own_filename(unit: str) -> str:
    try:
        return catalogue.get(unit).pem_name
    except ValueError:
        return f"{unit}.pem"


def _csr_path(unit: str) -> str:
    try:
        return catalogue.get(unit).csr_path
    except ValueError:
        low = unit.lower()
        return f"/usr/local/platform/.security/{low}/keys/{low}.csr"


def _trust_stores(sh: AdminShell) -> list[str]:
    lister = getattr(sh.node, "trust_stores", None)
    if callable(lister):
        return list(lister())
    names = [f"{unit}-trust" for unit in _own(sh)]
    return [store for store in dict.fromkeys(names) if _trust_or_none(sh, store) is not None]


def _trust_or_none(sh: AdminShell, store: str) -> dict[str, Any] | None:
    try:
        return dict(sh.node.trust(store))
    except Exception as exc:  # noqa: BLE001 - an unknown store, whatever the state raises
        if isinstance(exc, (KeyError, ValueError, LookupError)) or _refusal_message(exc) is not None:
            return None
        raise


def _store(sh: AdminShell, name: str) -> str | None:
    """``tomcat`` or ``tomcat-trust`` -> ``tomcat-trust`` when the node has that store."""
    name = name.strip()
    stores = _trust_stores(sh)
    for candidate in (name, f"{name}-trust"):
        for store in stores:
            if store.lower() == candidate.lower():
                return store
    return None


def _trust_unit_store(sh: AdminShell, unit: str) -> str | None:
    """``set cert import trust <unit>`` names the unit (``tomcat``), never the store (CLI reference 12.5SU2):
    ``tomcat`` -> ``tomcat-trust``; ``tomcat-trust`` is no unit, refused as an unknown one [INF]."""
    if unit.strip().lower().endswith("-trust"):
        return None
    return _store(sh, f"{unit.strip()}-trust")


_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def _first_pem(text: str) -> str:
    match = _PEM_RE.search(text)
    return match.group(0) + "\n" if match else text


def _all_pems(text: str) -> str:
    """Every certificate block of a paste (the node refuses several in one trust import), else the text."""
    blocks = _PEM_RE.findall(text)
    return "".join(block + "\n" for block in blocks) if blocks else text


# --- show cert / csr ---------------------------------------------------------------------------


def _describe_own(pem: str) -> str:
    cert = _load(pem)
    if _self_signed(cert):
        return "Self-signed certificate generated by system"
    return f"Certificate Signed by {_cn(cert.issuer)}"


@_command("show", "cert", "list")
def _show_cert_list(sh: AdminShell, rest: str) -> Command:
    kind = rest.lower()
    if kind == "own":
        for unit, own in sorted(_own(sh).items(), key=lambda kv: kv[0].lower()):
            sh.say(f"{unit}/{_own_filename(unit)}: {_describe_own(_pem_of(own))}")
    elif kind == "trust":
        for store in _trust_stores(sh):
            for filename in sorted(_trust_or_none(sh, store) or {}):
                sh.say(f"{store}/{filename}: Trust Certificate")
    else:
        _fail(sh, INCOMPLETE if not kind else INVALID_UNIT.format(unit=rest))
    return _nothing()


@_command("show", "cert", "own")
def _show_cert_own(sh: AdminShell, rest: str) -> Command:
    unit = _unit(sh, rest) if rest else None
    if unit is None:
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest.split("/")[0]))
        return _nothing()
    filename = rest.split("/", 1)[1] if "/" in rest else _own_filename(unit)
    if filename != _own_filename(unit):
        _fail(sh, INVALID_FILE.format(name=rest))
        return _nothing()
    sh.say(*show_cert_text(_pem_of(_own(sh)[unit])))
    return _nothing()


@_command("show", "cert", "trust")
def _show_cert_trust(sh: AdminShell, rest: str) -> Command:
    if "/" not in rest:
        _fail(sh, INCOMPLETE)
        return _nothing()
    store_name, filename = rest.split("/", 1)
    store = _store(sh, store_name)
    certs = _trust_or_none(sh, store) if store else None
    if store is None or certs is None:
        _fail(sh, INVALID_UNIT.format(unit=store_name))
    elif filename not in certs:
        _fail(sh, INVALID_FILE.format(name=rest))
    else:
        sh.say(*show_cert_text(_pem_of(certs[filename])))
    return _nothing()


@_command("set", "csr", "gen")
def _set_csr_gen(sh: AdminShell, rest: str) -> Command:
    unit = _unit(sh, rest) if rest else None
    if unit is None:
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest))
        return
    answer = yield Ask(INCLUDE_OU)
    try:
        sh.node.generate_csr(unit, include_ou=_confirmed(answer))
    except Exception as exc:
        message = _refusal_message(exc)
        if message is None:
            raise
        sh.say(message)
        return
    sh.say(CSR_OK.format(unit=unit))


@_command("show", "csr", "own")
def _show_csr_own(sh: AdminShell, rest: str) -> Command:
    unit = _unit(sh, rest) if rest else None
    if unit is None:
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest))
        return _nothing()
    csr = sh.node.pending_csr(unit)
    if csr:
        sh.say(*csr.strip().splitlines())
    else:
        missing = getattr(sh.node, "csr_missing_message", None)
        sh.say(missing(unit) if callable(missing) else MESSAGES.no_csr.format(csr_path=_csr_path(unit)))
    return _nothing()


@_command("show", "csr", "list")
def _show_csr_list(sh: AdminShell, rest: str) -> Command:
    if rest.lower() not in ("", "own"):
        _fail(sh, INVALID_UNIT.format(unit=rest))
        return _nothing()
    for unit in sorted(_own(sh), key=str.lower):
        if sh.node.pending_csr(unit):
            sh.say(f"{unit}/{unit}.csr")
    return _nothing()


# --- set cert import / regen / delete ----------------------------------------------------------


def _refused(sh: AdminShell, exc: Exception) -> None:
    message = _refusal_message(exc)
    if message is None:
        raise exc
    sh.say(message)


@_command("set", "cert", "import")
def _set_cert_import(sh: AdminShell, rest: str) -> Command:
    words = rest.split()
    if len(words) < 2 or words[0].lower() not in ("own", "trust"):
        _fail(sh, INCOMPLETE)
        return
    kind, name = words[0].lower(), words[1]
    target = _unit(sh, name) if kind == "own" else _trust_unit_store(sh, name)
    if target is None:
        _fail(sh, INVALID_UNIT.format(unit=name))
        return
    pasted = yield Ask(PASTE, paste=True)
    if kind == "own":
        yield from _import_own(sh, target, pasted)
    else:
        yield from _import_trust(sh, target, pasted)


def _cli_refuses_multi_server(sh: AdminShell, unit: str) -> bool:
    """From 14SU2 a multi-server certificate cannot be uploaded through the CLI (Security Guide 14SU2)."""
    pending = getattr(sh.node, "pending_distribution", None)
    multi = callable(pending) and pending(unit) == "multi-server"
    return bool(multi) and _release(_version(sh)) >= _release(MULTI_SERVER_CLI_LAST_BEFORE)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split(".") if part.isdigit())


def _import_own(sh: AdminShell, unit: str, pasted: str) -> Command:
    if _cli_refuses_multi_server(sh, unit):
        _fail(sh, MULTI_SERVER_CLI_REFUSED.format(unit=unit))
        return
    try:
        message = sh.node.upload_identity(unit, _first_pem(pasted))
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return
    lines = [line for line in str(message or MESSAGES.import_ok.format(unit=unit)).splitlines() if line.strip()]
    hint = MESSAGES.restart_hint.format(unit=unit)
    sh.say(*lines, *([] if hint in lines else [hint]))
    return
    yield  # pragma: no cover


def _import_trust(sh: AdminShell, store: str, pasted: str) -> Command:
    unit = store.removesuffix("-trust")
    try:
        result = sh.node.upload_trust(store, _all_pems(pasted))
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return
    stored = getattr(result, "stored", True)
    if stored:
        sh.say(MESSAGES.import_ok.format(unit=unit), MESSAGES.restart_hint.format(unit=unit))
    else:
        sh.say(str(getattr(result, "reason", "") or MESSAGES.not_replaced_older))
    return
    yield  # pragma: no cover


@_command("set", "cert", "regen")
def _set_cert_regen(sh: AdminShell, rest: str) -> Command:
    unit = _unit(sh, rest) if rest else None
    if unit is None:
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest))
        return
    itl = unit == "ITLRecovery"
    sh.say(REGEN_ITL_WARNING if itl else REGEN_WARNING.format(unit=unit))
    answer = yield Ask(REGEN_ASK)
    if not _confirmed(answer):
        sh.say(CANCELLED)
        return
    try:
        sh.node.regenerate(unit)
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return
    sh.say(REGEN_OK.format(unit=unit), REGEN_ITL_HINT if itl else REGEN_HINT.format(unit=unit))


@_command("set", "cert", "delete")
def _set_cert_delete(sh: AdminShell, rest: str) -> Command:
    words = rest.replace("/", " ").split()
    if words and words[0].lower() in ("own", "trust"):
        kind, words = words[0].lower(), words[1:]
    else:
        kind = "trust"
    if len(words) != 2:
        _fail(sh, INCOMPLETE)
        return
    store = _store(sh, words[0]) if kind == "trust" else None
    if store is None:
        _fail(sh, INVALID_UNIT.format(unit=words[0]))
        return
    answer = yield Ask(DELETE_ASK)
    if not _confirmed(answer):
        sh.say(CANCELLED)
        return
    try:
        sh.node.delete_trust(store, words[1])
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return
    sh.say(DELETE_OK.format(file=words[1]))


# --- services ----------------------------------------------------------------------------------


def _services(sh: AdminShell) -> dict[str, Any]:
    return dict(sh.node.services())


def _service_name(sh: AdminShell, name: str) -> str | None:
    for service in _services(sh):
        if service.lower() == " ".join(name.split()).lower():
            return service
    return None


def _status(sh: AdminShell, service: str) -> str:
    return str(getattr(_services(sh)[service], "status", "Unknown"))


def _activated(sh: AdminShell, service: str) -> bool:
    return bool(getattr(_services(sh)[service], "activated", True))


def _list_line(name: str, svc: Any) -> str:
    status = str(getattr(svc, "status", "Unknown"))
    if not getattr(svc, "activated", True):
        return NOT_ACTIVATED.format(name=name)
    if status == "Stopped":
        reason = getattr(svc, "reason", None) or getattr(svc, "reason_code", None)
        commanded = reason in (-1069, COMMANDED_OUT) or getattr(svc, "commanded_out", False)
        return f"{name}[STOPPED]  " + (COMMANDED_OUT if commanded else "Component is not running")
    return f"{name}[{_STATUS_WORD.get(status, 'UNKNOWN')}]"


@_command("utils", "service", "list")
def _service_list(sh: AdminShell, rest: str) -> Command:
    sh.say(
        "Requesting service status, please wait...",
        "System SSH[STARTED]",
        "Cluster Manager[STARTED]",
        SERVICE_MANAGER,
        "Getting list of all services",
        ">> Return code = 0",
    )
    for name, svc in sorted(_services(sh).items(), key=lambda kv: kv[0].lower()):
        sh.say(_list_line(name, svc))
    return _nothing()


def _service_target(sh: AdminShell, rest: str) -> str | None:
    if not rest:
        _fail(sh, INCOMPLETE)
        return None
    service = _service_name(sh, rest)
    if service is None:
        sh.say(SERVICE_MANAGER, NO_SUCH_SERVICE.format(name=rest))
        return None
    if not _activated(sh, service):
        sh.say(SERVICE_MANAGER, NOT_ACTIVATED.format(name=service))
        return None
    return service


_PHASES = {"restart": ("Stopping", "Starting", "Started"), "start": ("Starting", "Started"), "stop": ("Stopping", "Stopped")}
_REPEAT_SECONDS = 5.0


def _stream(sh: AdminShell, service: str, action: str) -> None:
    """Print ``<service>[PHASE]`` as the state's status moves through ``action``'s phases."""
    phases = _PHASES[action]
    shown = -1
    deadline = sh.now() + sh.restart_timeout
    last_print = sh.now()
    while True:
        status = _status(sh, service)
        index = phases.index(status) if status in phases else -1
        if index < 0 and status == "Stopped" and action != "stop":
            sh.emit(NOT_RUNNING.format(name=service))
            return
        for step in range(shown + 1, index + 1):
            sh.emit(f"{service}[{_STATUS_WORD[phases[step]]}]")
            last_print = sh.now()
        shown = max(shown, index)
        if shown == len(phases) - 1:
            if action == "stop":
                sh.emit(COMMANDED_OUT)
            return
        if sh.now() >= deadline:
            sh.emit(f"{service}[{_STATUS_WORD.get(status, 'UNKNOWN')}]  Service operation timed out")  # [INF]
            return
        if shown >= 0 and sh.now() - last_print >= _REPEAT_SECONDS:
            sh.emit(f"{service}[{_STATUS_WORD[phases[shown]]}]")
            last_print = sh.now()
        sh.sleep_poll()


def _control(sh: AdminShell, rest: str, action: str) -> Command:
    service = _service_target(sh, rest)
    if service is None:
        return
    if action == "restart":
        sh.emit(RESTART_HEADER)
    sh.emit(SERVICE_MANAGER)
    try:
        getattr(sh.node, action)(service)
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return
    _stream(sh, service, action)
    return
    yield  # pragma: no cover


@_command("utils", "service", "restart")
def _service_restart(sh: AdminShell, rest: str) -> Command:
    return _control(sh, rest, "restart")


@_command("utils", "service", "start")
def _service_start(sh: AdminShell, rest: str) -> Command:
    return _control(sh, rest, "start")


@_command("utils", "service", "stop")
def _service_stop(sh: AdminShell, rest: str) -> Command:
    return _control(sh, rest, "stop")


# --- cluster-wide: CTL, DRS, SSO, version ------------------------------------------------------


def _is_publisher(node: Any) -> bool:
    return getattr(node, "role", "") == "publisher" and getattr(node, "kind", "CUCM") == "CUCM"


@_command("utils", "ctl", "update")
def _ctl_update(sh: AdminShell, rest: str) -> Command:
    if rest.lower() != "ctlfile":
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest))
    elif not _is_publisher(sh.node):
        sh.say(CTL_NOT_PUBLISHER)
    else:
        message = sh.state.ctl_update()  # refuses (NO_CTL) outside mixed mode
        sh.say(*(str(message).splitlines() if message else ["The CTL file was generated successfully."]))
    return _nothing()


DRS_NONE = "drfCliMsg: No {operation} status available"   # public parsers (backup); restore [INF]
SSO_ENTITY_ID = "http://adfs.lab.example/adfs/services/trust"   # lab data
SSO_WORDS = {0: "SAML SSO Disabled", 1: "Agent Flow SSO Enabled", 2: "SAML SSO Enabled"}  # 1: [INF]


def _drs_lines(sh: AdminShell, running: bool, operation: str = "backup") -> list[str]:
    stamp = datetime.now(UTC).replace(microsecond=0)
    tar = stamp.strftime("%Y-%m-%d-%H-%M-%S")
    when = _java_date(stamp)
    word = operation.upper()
    head = (f"Status: RUNNING :: {operation.capitalize()} in progress" if running
            else f"Status: SUCCESS :: {word} completed successfully")
    lines = [head, f"Tar Filename: {tar}.tar", "Storage Location: NETWORK", f"Operation: {word}",
             f"Percentage Complete: {40 if running else 100}"]
    tag = "b" if operation == "backup" else "r"
    for index, node in enumerate(sorted(sh.state.nodes.values(), key=lambda n: getattr(n, "name", ""))):
        done = not running or index == 0
        status = "SUCCESS" if done else "ACTIVE"
        host = getattr(node, "name", "node")
        lines.append(f"PLAT  {host}  PLATFORM  {status}  {when}  activelog/platform/drf/log/{tar}_{tag}_{host}_plat_platform.log")
    return lines


@_command("utils", "disaster_recovery", "status")
def _drs_status(sh: AdminShell, rest: str) -> Command:
    """Backup: the last (or running) backup. Restore: only while one runs; else DRS has nothing to say."""
    operation = rest.lower()
    if operation not in ("backup", "restore"):
        _fail(sh, INCOMPLETE if not rest else INVALID_UNIT.format(unit=rest))
    elif operation == "backup":
        sh.say(*_drs_lines(sh, bool(getattr(sh.state, "backup_in_progress", False))))
    elif getattr(sh.state, "restore_in_progress", False):
        sh.say(*_drs_lines(sh, True, "restore"))
    else:
        sh.say(DRS_NONE.format(operation="restore"))
    return _nothing()


def _sso_lines(mode: int, publisher: bool) -> list[str]:
    """TAC 217268's layout; the field separators and the per-node recovery URL are [INF]."""
    lines = [f"SSO Status: {SSO_WORDS.get(mode, SSO_WORDS[0])}"]
    if mode == 0:
        return lines
    stamp = _java_date(datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    return lines + [
        f"IdP Metadata Imported Date = {stamp}",
        f"SP Metadata Exported Date = {stamp}",
        f"SSO Test Result Date = {stamp}",
        "SAML SSO Test Status = passed",
        # the lab's subscribers have the recovery URL turned off: the line must not read as "SSO disabled"
        f"Recovery URL Status = {'enabled' if publisher else 'disabled'}",
        f"Entity ID = {SSO_ENTITY_ID}",
    ]


@_command("utils", "ipsec", "restart")
def _ipsec_restart(sh: AdminShell, rest: str) -> Command:
    """SG14: "restart the IPSec service through the CLI using the utils ipsec restart command"; wording [INF]."""
    if rest:
        _fail(sh, INVALID_UNIT.format(unit=rest))
        return _nothing()
    record = getattr(sh.state, "record", None)
    if callable(record):
        record("ipsec_restarted", getattr(sh.node, "fqdn", ""), door="ssh")
    sh.say("Restarting IPSec service...", "IPSec service restarted successfully")  # [INF] wording
    return _nothing()


@_command("utils", "sso", "status")
def _sso_status(sh: AdminShell, rest: str) -> Command:
    mode_of = getattr(sh.state, "sso_mode", None)
    name = getattr(sh.node, "name", "")
    mode = int(mode_of(name)) if callable(mode_of) else (2 if getattr(sh.state, "sso_enabled", False) else 0)
    sh.say(*_sso_lines(mode, getattr(sh.node, "role", "") == "publisher"))
    return _nothing()


def _version(sh: AdminShell) -> str:
    for source in (sh.node, sh.state):
        value = getattr(source, "version", None)
        if isinstance(value, str) and value:
            return value
    return DEFAULT_VERSION


@_command("show", "version", "active")
def _show_version(sh: AdminShell, rest: str) -> Command:
    sh.say(
        f"Active Master Version: {_version(sh)}",
        "Active Version Installed Software Options:",
        "No Installed Software Options Found.",
    )
    return _nothing()


@_command("show", "myself")
def _show_myself(sh: AdminShell, rest: str) -> Command:
    """The session's account, as the CLI reference's example lays it out [INF: field padding]."""
    name = str(getattr(sh.node, "name", "") or "")
    sh.say(f"Machine Name    : {name}", f"account name    : {sh.username}", "privilege level : 4",
           f"command count   : {sh.command_count}", "logging setting : disabled")
    return _nothing()


_ETH0_DOMAIN_DNS = "127.0.0.53"   # the lab's stand-in DNS server [INF]


def _eth0_lines(sh: AdminShell) -> list[str]:
    """``show network eth0``'s block, in the layout Cisco's guides print (address, DNS, domain, gateway)."""
    ip = str(getattr(sh.node, "ip", "") or "127.0.0.1")
    fqdn = str(getattr(sh.node, "fqdn", "") or "")
    domain = fqdn.split(".", 1)[1] if "." in fqdn else ""
    gateway = ".".join(ip.split(".")[:3] + ["1"])
    return [
        "Ethernet 0",
        "DHCP         : disabled       Status      : up",
        f"IP Address   : {ip:<14} IP Mask     : 255.255.255.000",
        "Link Detected: yes            Mode        : Auto disabled, Full, 10000 Mbits/s",
        "Duplicate IP : no",
        "",
        "DNS",
        f"Primary  : {_ETH0_DOMAIN_DNS:<18} Secondary   : Not Configured",
        "Options  : timeout:5 attempts:2",
        f"Domain   : {domain}",
        f"Gateway  : {gateway} on Ethernet 0",
    ]


def _eth0_detail() -> list[str]:
    """What ``detail`` adds: interface counters [INF: layout not in a public source]."""
    return [
        "",
        "Queue Length : 1000          MTU         : 1500",
        "RX stats:",
        "bytes  : 0                   packets     : 0",
        "errors : 0                   dropped     : 0",
        "TX stats:",
        "bytes  : 0                   packets     : 0",
        "errors : 0                   dropped     : 0",
    ]


@_command("show", "network", "eth0")
def _show_network_eth0(sh: AdminShell, rest: str) -> Command:
    option = rest.lower()
    if option not in ("", "detail", "details"):
        _fail(sh, INVALID_UNIT.format(unit=rest))
        return _nothing()
    sh.say(*_eth0_lines(sh), *(_eth0_detail() if option else []))
    return _nothing()


@_command("set", "cli", "pagination")
def _pagination(sh: AdminShell, rest: str) -> Command:
    if rest.lower() == "off":
        sh.pagination = False
        sh.say(PAGINATION_OFF)
    elif rest.lower() == "on":
        sh.pagination = True
        sh.say(PAGINATION_ON)
    else:
        _fail(sh, INCOMPLETE)
    return _nothing()


@_command("quit")
def _quit(sh: AdminShell, rest: str) -> Command:
    sh.closed = True
    return _nothing()


@_command("exit")
def _exit(sh: AdminShell, rest: str) -> Command:
    sh.closed = True
    return _nothing()


# --- run sql -----------------------------------------------------------------------------------


@_command("run", "sql")
def _run_sql(sh: AdminShell, rest: str) -> Command:
    if not rest:
        _fail(sh, INCOMPLETE)
        return _nothing()
    from cucmkit.lab import axl  # lazy: the AXL door owns the lab's tables and SELECT grammar
    from cucmkit.lab.soap import SoapFault

    try:
        columns, rows = axl.run_select(sh.state, rest, "run sql")
    except SoapFault as fault:
        sh.say(fault.string)
        return _nothing()
    sh.say(*sql_table(columns, [[row.get(c, "") for c in columns] for row in rows]))
    return _nothing()


# --- web security ------------------------------------------------------------------------------

_WEB_FIELDS = (
    ("OrgUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("OrgName", NameOID.ORGANIZATION_NAME),
    ("Locality", NameOID.LOCALITY_NAME),
    ("State", NameOID.STATE_OR_PROVINCE_NAME),
    ("Country", NameOID.COUNTRY_NAME),
)


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else ""


def _web_security(sh: AdminShell) -> dict[str, str]:
    """The node's web-security settings; without stored ones, read from the tomcat certificate."""
    stored = getattr(sh.node, "web_security", None)
    if isinstance(stored, dict) and stored:
        keys = ("orgunit", "orgname", "locality", "state", "country")
        values = {label: str(stored.get(key) or "") for (label, _oid), key in zip(_WEB_FIELDS, keys, strict=True)}
        return values | {"AlternateHostName": str(stored.get("alternatehostname") or "")}
    own = _own(sh).get("tomcat")
    if own is None:
        return {}
    cert = _load(_pem_of(own))
    return {label: _attr(cert.subject, oid) for label, oid in _WEB_FIELDS}


@_command("show", "web-security")
def _show_web_security(sh: AdminShell, rest: str) -> Command:
    values = _web_security(sh)
    sh.say("WebSecurity Subject Information:")  # [INF] CUCM's layout is not public
    for label, _oid in _WEB_FIELDS:
        sh.say(f"  {label}: {values.get(label, '')}")
    sh.say(f"  Alternate Host Name: {values.get('AlternateHostName', '')}")
    return _nothing()


@_command("set", "web-security")
def _set_web_security(sh: AdminShell, rest: str) -> Command:
    try:
        words = shlex.split(rest)
    except ValueError:
        words = []
    if not 4 <= len(words) <= 6:
        _fail(sh, INCOMPLETE)
        return _nothing()
    keys = ("orgunit", "orgname", "locality", "state", "country", "alternatehostname")
    values = dict(zip(keys, words, strict=False))  # 4-6 words: absent ones default
    setter = getattr(sh.node, "set_web_security", None)
    if not callable(setter):
        _fail(sh, "web-security is not supported by this lab node")
        return _nothing()
    try:
        message = setter(**values)
    except Exception as exc:  # noqa: BLE001
        _refused(sh, exc)
        return _nothing()
    sh.say(str(message or REGEN_OK.format(unit="tomcat")), WEB_SECURITY_HINT)
    return _nothing()
