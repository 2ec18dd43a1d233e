"""The validation report and the upload plan: frozen values with table, text, JSON and HTML views."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["PASS", "FAIL", "WARN", "SKIPPED", "STATUSES", "Check", "UploadStep", "ChainEntry", "Report"]

PASS, FAIL, WARN, SKIPPED = "pass", "fail", "warn", "skipped"
STATUSES = (PASS, FAIL, WARN, SKIPPED)
_COLUMNS = ("name", "status", "message", "cucm_message", "remedy", "subject", "serial", "fingerprint")
# The order CUCM meets the problems in when the plan is followed: the trust uploads first (an expired
# CA is refused, a newer same-CN copy silently wins), then the identity upload's rules in the order
# of CONTRACTS §1.1 (wildcard, key size, pending CSR, issuer chain, CSR key, CSR SANs).
_CUCM_ORDER = ("validity", "trust_store", "intake", "wildcard", "key_size", "csr_pending", "chain_complete",
               "chain_signatures", "csr_key", "csr_san")
_COLOURS = {PASS: "#1a7f37", FAIL: "#cf222e", WARN: "#9a6700", SKIPPED: "#6e7781"}


@dataclass(frozen=True)
class Check:
    """One check's verdict, about one certificate when ``subject`` is set."""

    name: str
    status: str
    message: str
    cucm_message: str | None = None   # what CUCM would answer the upload with
    remedy: str | None = None
    subject: str | None = None
    serial: int | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["serial"] = None if self.serial is None else str(self.serial)  # JSON-safe for big serials
        return data


@dataclass(frozen=True)
class UploadStep:
    """One upload: a single PEM to ``store`` (``<purpose>-trust`` for CAs, ``<purpose>`` for the leaf)."""

    order: int
    store: str
    kind: str                 # "root", "intermediate" or "leaf"
    subject: str
    serial: int
    fingerprint: str
    pem: str
    already_present: bool = False  # the same certificate is already in the trust store given

    @property
    def target(self) -> str:
        return "identity" if self.kind == "leaf" else "trust"

    @property
    def filename(self) -> str:
        """A file name for saving the step: ``01-tomcat-trust-root.pem``."""
        return f"{self.order:02d}-{self.store}-{self.kind}.pem"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["serial"] = str(self.serial)
        data["target"] = self.target
        return data


@dataclass(frozen=True)
class ChainEntry:
    """One certificate of the chain found, for display."""

    role: str                 # "leaf", "intermediate" or "root"
    subject: str
    issuer: str
    serial: int
    fingerprint: str
    not_before: datetime
    not_after: datetime
    from_trust_store: bool = False

    def line(self) -> str:
        where = " (from the trust store)" if self.from_trust_store else ""
        return (f"  {self.role:<12} {self.subject}{where}\n"
                f"  {'':<12} serial {self.serial:x}, valid {self.not_before:%Y-%m-%d %H:%M:%S} .. "
                f"{self.not_after:%Y-%m-%d %H:%M:%S} UTC, sha256 {self.fingerprint[:16]}...")


@dataclass(frozen=True)
class Report:
    """Every check of one validation; ``upload_plan`` is filled only when nothing failed."""

    purpose: str
    checks: tuple[Check, ...]
    upload_plan: tuple[UploadStep, ...] = ()
    notes: tuple[str, ...] = field(default=())
    chain: tuple[ChainEntry, ...] = ()  # the leaf's chain as found, leaf first

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def first_refusal(self) -> Check | None:
        """The failed check whose CUCM message the upload would meet first (None when nothing CUCM would refuse)."""
        refusals = [c for c in self.failed if c.cucm_message and c.name in _CUCM_ORDER]
        return min(refusals, key=lambda c: _CUCM_ORDER.index(c.name), default=None)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == WARN)

    def by_name(self, name: str) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.name == name)

    def status_of(self, name: str) -> str | None:
        """The worst status among the checks named ``name`` (fail > warn > pass > skipped)."""
        found = {c.status for c in self.by_name(name)}
        for status in (FAIL, WARN, PASS, SKIPPED):
            if status in found:
                return status
        return None

    @property
    def verdict(self) -> str:
        return "uploadable" if self.ok else "not uploadable"

    # --- views ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "ok": self.ok,
            "verdict": self.verdict,
            "checks": [c.to_dict() for c in self.checks],
            "upload_plan": [s.to_dict() for s in self.upload_plan],
            "notes": list(self.notes),
            "chain": [_entry_dict(e) for e in self.chain],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_frame(self) -> Any:
        """The checks as a pandas DataFrame (one row per check)."""
        import pandas as pd

        rows = [{col: getattr(c, col) for col in _COLUMNS} for c in self.checks]
        return pd.DataFrame(rows, columns=list(_COLUMNS))

    def plan_frame(self) -> Any:
        import pandas as pd

        cols = ["order", "store", "kind", "subject", "serial", "fingerprint", "already_present"]
        return pd.DataFrame([{c: getattr(s, c) for c in cols} for s in self.upload_plan], columns=cols)

    def summary(self) -> str:
        fails, warns = len(self.failed), len(self.warnings)
        return f"purpose {self.purpose}: {self.verdict.upper()} ({fails} failed, {warns} warnings, {len(self.checks)} checks)"

    def to_text(self) -> str:
        lines = [self.summary(), ""]
        if self.chain:
            lines.extend(["Chain found:", *(e.line() for e in self.chain), ""])
        for check in self.checks:
            lines.extend(_check_lines(check))
        lines.extend(f"note: {note}" for note in self.notes)
        lines.append("")
        lines.extend(_plan_lines(self.upload_plan, self.ok))
        return "\n".join(lines).rstrip() + "\n"

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        colour = _COLOURS[PASS] if self.ok else _COLOURS[FAIL]
        parts = [f'<p><b style="color:{colour}">{html.escape(self.summary())}</b></p>', _checks_html(self.checks)]
        if self.upload_plan:
            parts.append("<p><b>Upload plan</b> (each step a single PEM, in this order)</p>")
            parts.append(_plan_html(self.upload_plan))
        parts.extend(f"<p><i>{html.escape(note)}</i></p>" for note in self.notes)
        return "\n".join(parts)


def _check_lines(check: Check) -> list[str]:
    lines = [f"{check.status.upper():<7} {check.name:<20} {check.message}"]
    pad = " " * 29
    if check.subject is not None and check.status in (FAIL, WARN):
        lines.append(f"{pad}certificate: {check.subject} (serial {check.serial:x}, sha256 {(check.fingerprint or '')[:16]}...)")
    if check.cucm_message:
        lines.append(f"{pad}CUCM would say: {check.cucm_message}")
    if check.remedy:
        lines.append(f"{pad}remedy: {check.remedy}")
    return lines


def _entry_dict(entry: ChainEntry) -> dict[str, Any]:
    data = asdict(entry)
    data.update(serial=str(entry.serial), not_before=entry.not_before.isoformat(), not_after=entry.not_after.isoformat())
    return data


def _plan_lines(plan: tuple[UploadStep, ...], ok: bool) -> list[str]:
    if not ok:
        return ["No upload plan: fix the failed checks first."]
    lines = ["Upload plan (each step a single PEM, in this order):"]
    for step in plan:
        present = "  [already in the trust store]" if step.already_present else ""
        lines.append(f"  {step.order}. {step.store:<20} {step.kind:<12} {step.subject}  "
                     f"sha256 {step.fingerprint[:16]}...{present}")
    return lines


def _checks_html(checks: tuple[Check, ...]) -> str:
    """The checks as a Styler table (cucmkit.tables), the status cell coloured by its verdict."""
    import pandas as pd

    from cucmkit.tables import styled

    frame = pd.DataFrame([{col: getattr(check, col) for col in _COLUMNS} for check in checks], columns=list(_COLUMNS))
    styler = styled(frame).map(lambda v: f"color: {_COLOURS.get(str(v), '')}; font-weight: bold", subset=["status"])
    return str(styler.to_html())


def _plan_html(plan: tuple[UploadStep, ...]) -> str:
    import pandas as pd

    from cucmkit.tables import styled

    cols = ["order", "store", "kind", "subject", "fingerprint", "already_present"]
    frame = pd.DataFrame([{c: getattr(s, c) for c in cols} for s in plan], columns=cols)
    return str(styled(frame).to_html())
