"""A lab partner: a TLS endpoint on loopback that trusts only the CA certificates it was given.

It stands for Expressway, UCCX, Unity Connection, a CUBE or an IdP in the trust tests: it asks every client for
a certificate and accepts only one that chains to its own trusted list (``trust``/``distrust`` change it, the
way an engineer appends to Expressway's trusted CA list). An accepted client reads ``OK <partner>``; a refused
one gets the TLS alert (unknown ca, certificate required) and the connection closes. Accepted and refused
handshakes are counted (``accepted``, ``refused``).
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from pathlib import Path

from cucmkit.lab import pki

__all__ = ["LabPartner"]


class LabPartner:
    """One partner endpoint on 127.0.0.1 (ephemeral port). A context manager."""

    def __init__(self, name: str, *, trusted: list[str] | None = None, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self._trusted: list[str] = list(trusted or [])
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix=f"lab-partner-{name}-")
        key = pki.new_key("rsa", 2048)
        (Path(self._dir.name) / "server.pem").write_text(pki.self_signed(cn=f"{name}.partner.lab.example", key=key))
        (Path(self._dir.name) / "server.key").write_text(pki.key_to_pem(key))
        self._sock = socket.create_server((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"lab-partner-{name}", daemon=True)

    def __enter__(self) -> LabPartner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=5)
        self._dir.cleanup()

    def trust(self, pem: str) -> None:
        with self._lock:
            if pem not in self._trusted:
                self._trusted.append(pem)

    def distrust(self, pem: str) -> None:
        with self._lock:
            self._trusted = [p for p in self._trusted if p != pem]

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(Path(self._dir.name) / "server.pem"), str(Path(self._dir.name) / "server.key"))
        context.verify_mode = ssl.CERT_REQUIRED
        with self._lock:
            trusted = "".join(self._trusted)
        if trusted:
            context.load_verify_locations(cadata=trusted)
        return context

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with self._context().wrap_socket(conn, server_side=True) as tls:
                tls.sendall(f"OK {self.name}\n".encode())
                with self._lock:
                    self.accepted += 1
        except (ssl.SSLError, OSError):
            with self._lock:
                self.refused += 1
            conn.close()
