"""cucmkit's exceptions: one root, a small tree, structured context, no secrets.

    CucmKitError                    root of everything cucmkit raises on purpose
    ├── ParameterError              the parameter file or a secret reference is wrong
    ├── TransportError              could not talk to a node
    │   ├── ConnectError            refused, unreachable, name resolution
    │   ├── TimeoutError_           no answer before the deadline (connect, read, CLI prompt)
    │   └── TlsError                handshake failed, certificate not trusted, pin mismatch
    ├── CucmError                   the node answered, with an error
    │   ├── HttpStatusError         HTTP status >= 400 (401, 503, ...)
    │   ├── SoapFaultError          a SOAP fault (throttle, unknown operation, ...)
    │   │   └── ThrottledError      RisPort/AXL rate or load limit
    │   └── CliError                the admin CLI printed an error
    ├── CertificateError            the certificate material is wrong (intake, chain, checks)
    ├── InterlockError              a safety interlock refused to proceed
    ├── WaitingError                the run is paused on something outside (the CA, an approval)
    └── StoppedError                the operator or a signal asked the run to stop (at a step boundary)

Every error's ``str()`` is built only from the fields below and the message the
caller passes; callers never put a password, a request body or a header in them.
Usage mistakes (wrong argument types, unknown purpose names) stay ``ValueError``
and ``TypeError``.
"""

from __future__ import annotations

__all__ = [
    "CucmKitError",
    "ParameterError",
    "TransportError",
    "ConnectError",
    "TimeoutError_",
    "TlsError",
    "CucmError",
    "HttpStatusError",
    "SoapFaultError",
    "ThrottledError",
    "CliError",
    "CertificateError",
    "InterlockError",
    "WaitingError",
    "StoppedError",
]


class CucmKitError(Exception):
    """Root error. Context fields are optional and shown in ``str()`` when set."""

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        interface: str | None = None,
        operation: str | None = None,
        purpose: str | None = None,
        remedy: str | None = None,
        **context: object,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
        self.interface = interface
        self.operation = operation
        self.purpose = purpose
        self.remedy = remedy
        self.context = dict(context)

    def where(self) -> str:
        parts = [p for p in (self.node, self.interface, self.operation) if p]
        return " ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"[{where}] {self.message}" if where else self.message
        if self.purpose:
            text += f" (purpose {self.purpose})"
        if self.remedy:
            text += f" Remedy: {self.remedy}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ParameterError(CucmKitError):
    """The parameter file, or a secret reference in it, is wrong."""


class TransportError(CucmKitError):
    """Could not talk to the node at all."""


class ConnectError(TransportError):
    """Connection refused, host unreachable, or the name did not resolve."""


class TimeoutError_(TransportError):
    """No answer before the deadline. (Named with a trailing underscore so it never shadows the builtin.)"""


class TlsError(TransportError):
    """TLS handshake failed, or the node's certificate is not trusted."""


class CucmError(CucmKitError):
    """The node answered, and what it said was an error."""


class HttpStatusError(CucmError):
    def __init__(self, message: str, *, status: int, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.status = status


class SoapFaultError(CucmError):
    def __init__(self, message: str, *, fault_code: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.fault_code = fault_code


class ThrottledError(SoapFaultError):
    """RisPort's rate limit or AXL's write throttle answered instead of the data."""


class CliError(CucmError):
    """The admin CLI printed an error instead of doing what was asked."""


class CertificateError(CucmKitError):
    """The certificate material cannot be used (unreadable, incomplete chain, failed checks)."""


class InterlockError(CucmKitError):
    """A safety interlock of the procedure refused to let the run proceed."""


class WaitingError(CucmKitError):
    """The run is paused on something outside cucmkit: the CA, or a person's approval."""


class StoppedError(CucmKitError):
    """The run was asked to stop (Ctrl-C, SIGTERM, the parent runner gone) and stopped at a step boundary."""
