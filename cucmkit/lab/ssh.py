"""The SSH door of a lab node: a paramiko server in front of the ``admin:`` CLI.

One listener per node, a thread per connection. A client authenticates with
the node's OS admin password (``state.check_os_admin``), asks for a pty and a
shell, and talks to ``cucmkit.lab.shell.AdminShell`` as it would to CUCM.

Host keys (RSA 2048 and ECDSA P-256, as CUCM offers) are kept in
``<state_dir>/ssh/<node>_host_{rsa,ecdsa}.key`` so a client's known_hosts
entry survives a lab restart. Key exchange, ciphers and MACs are paramiko's
defaults, which cover what CUCM offers (``diffie-hellman-group14-sha256``,
``aes*-ctr``/``-cbc``, ``hmac-sha2-*``/``hmac-sha1``); group-exchange is
offered only when ``/etc/ssh/moduli`` exists.

Faults, read on every connection and while the session runs:
``unreachable`` drops the TCP connection at once; ``hang_ssh`` lets the
client log in, prints the first banner line and then never shows a prompt.
"""

from __future__ import annotations

import codecs
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko

from cucmkit.lab.shell import AdminShell, fault_active
from cucmkit.lab.state import LabState

__all__ = ["SshHandle", "start_ssh", "host_keys", "write_known_hosts"]

log = logging.getLogger(__name__)
_PARAMIKO_LOG = f"{__name__}.paramiko"
logging.getLogger(_PARAMIKO_LOG).setLevel(logging.CRITICAL)

_ACCEPT_POLL = 0.25       # seconds between checks of the stop flag in the accept loop
_SHELL_WAIT = 30.0        # how long a client may take to ask for its shell after auth
_RECV_POLL = 0.5          # channel read timeout, to notice close() and faults
_BACKLOG = 32
_HANG_BANNER = "Command Line Interface is starting up, please wait ...\r\n"


def host_keys(state_dir: Path | None, node_name: str) -> list[paramiko.PKey]:
    """The node's host keys, created on first use and persisted under ``<state_dir>/ssh``."""
    if state_dir is None:
        return [paramiko.RSAKey.generate(2048), paramiko.ECDSAKey.generate()]
    folder = Path(state_dir) / "ssh"
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _load_or_create(folder / f"{node_name}_host_rsa.key", paramiko.RSAKey, lambda: paramiko.RSAKey.generate(2048)),
        _load_or_create(folder / f"{node_name}_host_ecdsa.key", paramiko.ECDSAKey, paramiko.ECDSAKey.generate),
    ]


def write_known_hosts(state_dir: Path, listeners: dict[str, tuple[str, int]]) -> Path:
    """Write ``<state_dir>/known_hosts`` (OpenSSH format): every node's host keys at ``[host]:port``.

    ``listeners`` maps node name -> (host, ssh port). Written atomically, so a
    client never reads half a file.
    """
    lines = []
    for name, (host, port) in sorted(listeners.items()):
        target = host if port == 22 else f"[{host}]:{port}"
        for key in host_keys(state_dir, name):
            lines.append(f"{target} {key.get_name()} {key.get_base64()}")
    path = Path(state_dir) / "known_hosts"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    tmp.replace(path)
    return path


def _load_or_create(path: Path, cls: Any, make: Callable[[], paramiko.PKey]) -> paramiko.PKey:
    if path.exists():
        try:
            return cls.from_private_key_file(str(path))
        except (paramiko.SSHException, OSError, ValueError):
            log.warning("host key %s unreadable; making a new one", path)
    key = make()
    tmp = path.with_suffix(".tmp")
    key.write_private_key_file(str(tmp))
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


class _Server(paramiko.ServerInterface):
    """Password auth with the node's OS admin; one session channel with pty + shell."""

    def __init__(self, *, state: Any, node: Any) -> None:
        self._state = state
        self._node = node
        self.username = ""
        self.shell_requested = threading.Event()
        self.term_width = 80

    def get_allowed_auths(self, username: str) -> str:
        return "password,keyboard-interactive"

    def check_auth_password(self, username: str, password: str) -> int:
        try:
            ok = bool(self._state.check_os_admin(self._node, username, password))
        except Exception:  # a broken state must not leak details to the client
            log.exception("OS admin check failed on %s", _name(self._node))
            ok = False
        if ok:
            self.username = username
            return paramiko.AUTH_SUCCESSFUL
        log.info("SSH login refused on %s for user %r", _name(self._node), username)
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> paramiko.InteractiveQuery:
        self._pending_user = username
        return paramiko.InteractiveQuery("", "", ("Password: ", False))

    def check_auth_interactive_response(self, responses: list[str]) -> int:
        if len(responses) != 1:
            return paramiko.AUTH_FAILED
        return self.check_auth_password(getattr(self, "_pending_user", ""), responses[0])

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes) -> bool:  # type: ignore[no-untyped-def]
        self.term_width = width or 80
        return True

    def check_channel_window_change_request(self, channel, width, height, pixelwidth, pixelheight) -> bool:  # type: ignore[no-untyped-def]
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell_requested.set()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        return False  # CUCM's CLI is interactive only

    def check_channel_env_request(self, channel, name, value) -> bool:  # type: ignore[no-untyped-def]
        return False


def _name(node: Any) -> str:
    return str(getattr(node, "name", node))


class SshHandle:
    """A running SSH listener of one node. ``close()`` stops it and drops its sessions."""

    def __init__(self, *, state: Any, node: Any, host: str, port: int) -> None:
        self._state = state
        self._node = node
        self._keys = host_keys(_state_dir(state), _name(node))
        paramiko.Transport.load_server_moduli()  # group-exchange only if /etc/ssh/moduli exists
        try:
            self._sock = socket.create_server((host, port), backlog=_BACKLOG)
        except OSError as exc:
            raise OSError(exc.errno, f"lab SSH for {_name(node)} cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._sock.settimeout(_ACCEPT_POLL)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._thread = threading.Thread(target=self._accept_loop, name=f"lab-ssh-{_name(node)}", daemon=True)
        self._thread.start()

    def __enter__(self) -> SshHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshHandle(node={_name(self._node)!r}, host={self.host!r}, port={self.port})"

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for step in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close):
            try:
                step()  # shutdown wakes a blocked accept() at once on Linux
            except OSError:
                pass
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        self._thread.join(timeout=5)

    # --- connections -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self._state.count_connection(_name(self._node), "ssh")
            if self._fault("unreachable"):
                _drop(conn)
                continue
            threading.Thread(target=self._serve, args=(conn,), name=f"lab-ssh-{_name(self._node)}-conn", daemon=True).start()

    def _fault(self, name: str) -> bool:
        return fault_active(self._state, self._node, name)

    def _serve(self, conn: socket.socket) -> None:
        transport = self._transport(conn)
        if transport is None:
            return
        try:
            self._session(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.debug("SSH session on %s ended: %s", _name(self._node), exc)
        except Exception:  # noqa: BLE001 - one broken session must not take the listener down
            log.exception("SSH session on %s failed", _name(self._node))
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)

    def _transport(self, conn: socket.socket) -> paramiko.Transport | None:
        conn.settimeout(None)
        transport = paramiko.Transport(conn)
        # A client that probes and abandons a handshake is not the lab's error:
        # keep paramiko's server-side tracebacks out of the lab's console.
        transport.set_log_channel(_PARAMIKO_LOG)
        transport.local_version = "SSH-2.0-OpenSSH_7.4"
        for key in self._keys:
            transport.add_server_key(key)
        with self._lock:
            if self._stop.is_set():
                transport.close()
                return None
            self._transports.add(transport)
        return transport

    def _session(self, transport: paramiko.Transport) -> None:
        server = _Server(state=self._state, node=self._node)
        transport.start_server(server=server)
        channel = transport.accept(timeout=_SHELL_WAIT)
        if channel is None or not server.shell_requested.wait(_SHELL_WAIT):
            return
        if self._fault("unreachable"):
            return
        if self._fault("hang_ssh"):
            self._hang(channel)
            return
        self._run_shell(channel, server)

    def _login_delay(self) -> float:
        knobs = getattr(self._state, "knobs", None)
        base = float(getattr(knobs, "ssh_login_delay", 0.0) or 0.0)
        return float(knobs.delay(base)) if base and hasattr(knobs, "delay") else base

    def _hang(self, channel: paramiko.Channel) -> None:
        """Logged in, first banner line, then silence: the client never sees ``admin:``."""
        channel.sendall(_HANG_BANNER.encode())
        channel.settimeout(_RECV_POLL)
        while not self._stop.is_set() and not channel.closed:
            try:
                if not channel.recv(4096):
                    return
            except TimeoutError:
                continue

    def _run_shell(self, channel: paramiko.Channel, server: _Server) -> None:
        def write(text: str) -> None:
            if not channel.closed:
                channel.sendall(text.encode("utf-8"))

        shell = AdminShell(state=self._state, node=self._node, write=write, username=server.username or "admin")
        with LabState.door("cli"):
            self._converse(channel, shell)

    def _converse(self, channel: paramiko.Channel, shell: AdminShell) -> None:
        shell.start(login_delay=self._login_delay())
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        channel.settimeout(_RECV_POLL)
        while not shell.closed and not self._stop.is_set():
            if self._fault("unreachable"):
                return
            try:
                data = channel.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return
            shell.feed(decoder.decode(data))
        if shell.closed and not channel.closed:
            channel.send_exit_status(0)
            channel.close()


def _drop(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def _state_dir(state: Any) -> Path | None:
    for attr in ("state_dir", "dir", "path", "root"):
        value = getattr(state, attr, None)
        if isinstance(value, (str, Path)):
            return Path(value)
    return None


def start_ssh(*, state: Any, node: Any, host: str, port: int) -> SshHandle:
    """Start the node's SSH listener on ``host:port`` (port 0 = ephemeral); returns its handle."""
    return SshHandle(state=state, node=node, host=host, port=port)
