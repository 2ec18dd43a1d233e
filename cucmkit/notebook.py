"""Display helpers for the runbook notebooks: one call per cell, all logic here.

A runbook notebook does::

    book = notebook.open_runbook(globals())   # parameters -> cluster, CA, engine; impact/risk banner
    book.inventory("before")                  # this purpose's certificates, days left
    book.plan()  ;  book.prechecks()  ;  book.approval()
    book.csr()  ;  book.ca()  ;  book.install()  ;  book.activate()  ;  book.phones()
    book.inventory("after")  ;  book.summary()

and the inventory notebook ``notebook.open_inventory(globals())`` then
``.certificates()``, ``.timeline()``, ``.due()``.

Interactive (a Jupyter front end that accepts input): approval and the manual
CA upload use ipywidgets, and a change step refuses to run until Approve was
clicked. Under papermill (no front end) nothing ever blocks: approval comes
from the ``approve`` parameter, and without it the approval cell raises
``WaitingError`` BEFORE anything changes. A phase that ends waiting, blocked
or failed raises the matching cucmkit error so the run stops there.

Every cell also appends to the run's journal (``journal_file``, set by
``cucmkit run``) so the evidence can say which steps started and ended even
if the kernel dies.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cucmkit import catalogue, stopping, wiring
from cucmkit.approval import ApprovalScope, badge
from cucmkit.display import markdown as _markdown
from cucmkit.display import png as _display_png_bytes
from cucmkit.display import show as _display
from cucmkit.errors import CucmKitError, InterlockError, WaitingError
from cucmkit.evidence.journal import Journal, who
from cucmkit.meters import Meter, MeterDisplay
from cucmkit.renewal.plan import Plan
from cucmkit.renewal.ports import ClusterPort, InboxCa, NodePort
from cucmkit.tables import styled, whole_days

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

    from cucmkit.ca import CaBackend
    from cucmkit.certs.records import CertRecord
    from cucmkit.cucm import Cluster
    from cucmkit.cucm.risport import RegistrationSummary
    from cucmkit.cucm.sso import SsoNodeStatus
    from cucmkit.params import ClusterParams
    from cucmkit.renewal import Renewal
    from cucmkit.renewal.state import StepRecord

__all__ = ["open_runbook", "open_inventory", "Runbook", "InventoryBook", "RunOptions", "is_interactive",
           "impact_banner", "cert_frame", "cert_table", "timeline_png", "renew_hint"]

RUN_KEYS = ("parameters_file", "purpose", "ticket", "ca", "approve", "dry_run", "state_dir", "journal_file",
            "approver", "override_window", "renew_nodes", "force_csr", "renew_as", "overrides")
RENEW_AS = {"multi-server": True, "per-node": False}
_PROGRESS_EVERY = 5.0  # seconds between meter refreshes under papermill (one output, updated in place)


# ---------------------------------------------------------------- small pure helpers


@dataclass(frozen=True)
class RunOptions:
    """The run options of a notebook's ``parameters`` cell (references, never secret values)."""

    purpose: str
    ticket: str
    ca: str | None = None
    approve: bool = False
    dry_run: bool = False
    state_dir: str = ".cucmkit-state"
    journal_file: str | None = None
    approver: str | None = None              # the named approver, recorded beside the OS user
    override_window: str | None = None       # reason to restart outside the maintenance window
    renew_nodes: tuple[str, ...] = ()        # renew these even when not due
    force_csr: bool = False
    renew_as: str | None = None              # "multi-server" | "per-node" | None: the parameter file's multi_server
    checks_overridden: tuple[tuple[str, str], ...] = ()   # check -> recorded reason (`cucmkit run --override`)

    @property
    def overrides(self) -> dict[str, str]:
        found = dict(self.checks_overridden)
        if self.override_window:
            found["maintenance_window"] = self.override_window
        return found

    @property
    def multi_server(self) -> bool | None:
        """``renew_as`` for the engine: True, False, or None (the parameter file decides)."""
        return None if self.renew_as is None else RENEW_AS[self.renew_as]

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any], *, purpose: str | None = None) -> RunOptions:
        ca = namespace.get("ca")
        name = purpose or namespace.get("purpose") or "inventory"
        return cls(
            purpose=name if name == "inventory" else catalogue.get(str(name)).name,
            ticket=str(namespace.get("ticket") or "LAB"),
            ca=ca if isinstance(ca, str) else None,   # a mapping is the parameter file's ca section
            approve=bool(namespace.get("approve")),
            dry_run=bool(namespace.get("dry_run")),
            state_dir=str(namespace.get("state_dir") or ".cucmkit-state"),
            journal_file=namespace.get("journal_file") or None,
            approver=str(namespace["approver"]).strip() or None if namespace.get("approver") else None,
            override_window=str(namespace["override_window"]) if namespace.get("override_window") else None,
            renew_nodes=_names(namespace.get("renew_nodes")),
            force_csr=bool(namespace.get("force_csr")),
            renew_as=_renew_as(namespace.get("renew_as")),
            checks_overridden=_overrides(namespace.get("overrides")),
        )


def _renew_as(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value not in RENEW_AS:
        raise ValueError(f"renew_as must be one of {', '.join(RENEW_AS)} or None (got {str(value)[:40]!r})")
    return str(value)


def _overrides(value: Any) -> tuple[tuple[str, str], ...]:
    """``overrides``: check -> reason, checked as the engine checks them (only overridable checks, with a reason)."""
    from cucmkit.renewal.checks import validate_overrides

    if not value:
        return ()
    if not isinstance(value, Mapping):
        raise ValueError("overrides must be a mapping of check -> reason, e.g. {\"convert_multi_server\": \"CAB-12\"}")
    found = {str(k): str(v) for k, v in value.items()}
    validate_overrides(found)
    return tuple(sorted(found.items()))


def _names(value: Any) -> tuple[str, ...]:
    """``renew_nodes`` as given: a list of names, or one comma-separated string."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(item).strip() for item in items if str(item).strip())


def is_interactive() -> bool:
    """True in a front end that can answer (JupyterLab); False under papermill/nbclient or plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


def _png(figure: Any) -> bytes:
    """A matplotlib Figure as PNG bytes (Agg canvas: no pyplot, no inline backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _display_png(figure: Any) -> None:
    """Show a matplotlib Figure as a PNG output."""
    _display_png_bytes(_png(figure))


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


DUE_COLOUR, OK_COLOUR = "#d62728", "#2ca02c"


def timeline_png(points: list[tuple[str, datetime, bool]], *, now: datetime, title: str) -> bytes:
    """A dot per (label, date, due) on a date axis, due in red, a dashed line at ``now``; PNG bytes (matplotlib)."""
    from matplotlib.dates import DateFormatter

    figure = _figure(9, 1.4 + 0.25 * max(len(points), 1))
    axis = figure.add_subplot()
    rows = list(range(len(points)))
    axis.scatter([when for _, when, _ in points], rows, s=64, zorder=3,
                 c=[DUE_COLOUR if due else OK_COLOUR for _, _, due in points])
    axis.axvline(now, linestyle="--", color="grey")
    axis.annotate("now", xy=(now, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                  textcoords="offset points", color="grey")
    axis.set_yticks(rows, labels=[label[:30] for label, _, _ in points])
    axis.set_ylim(max(len(points), 1) - 0.5, -0.5)    # first point on top
    axis.xaxis.set_major_formatter(DateFormatter("%Y-%m"))  # type: ignore[no-untyped-call]
    axis.grid(axis="x", alpha=0.3)
    axis.margins(x=0.05)
    axis.set_title(title)
    figure.tight_layout()
    return _png(figure)


def _quiet_tracebacks() -> None:
    """Minimal tracebacks: the cucmkit error's text (known clean), no source context or locals."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "InteractiveTB"):
        shell.InteractiveTB.set_mode("Minimal")


def impact_banner(purpose: str) -> str:
    """Markdown: a purpose's risk, window, impact and notes (from the catalogue)."""
    p = catalogue.get(purpose)
    lines = [f"### {badge(p.risk.value)} {p.name}: risk **{p.risk.value.upper()}**, window: {p.window}", "",
             "**If this goes wrong:**", *[f"- {i}" for i in p.impact]]
    if p.notes:
        lines += ["", "**Before you start:**", *[f"- {n}" for n in p.notes]]
    services = ", ".join(p.restart_services()) or "none"
    lines += ["", f"Restarts: {services}. Phones reset: {'yes' if p.resets_phones else 'no'}. "
                  f"CTL update in mixed mode: {'yes' if p.ctl_update_in_mixed_mode else 'no'}."]
    return "\n".join(lines)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def cert_entry(record: Any) -> dict[str, Any]:
    """A CertRecord as the journal/result record keeps it (no PEM, no key)."""
    return {"node": record.node, "purpose": record.purpose, "store": record.store, "filename": record.filename,
            "subject": record.subject, "issuer": record.issuer, "serial": str(record.serial),
            "not_before": _iso(record.not_before), "not_after": _iso(record.not_after),
            "fingerprint_sha256": record.fingerprint_sha256, "self_signed": bool(record.self_signed),
            "key_type": f"{record.key_type} {record.key_size}".strip()}


_CERT_COLUMNS = ("node", "purpose", "store", "common name", "issuer", "expires", "days left", "self-signed", "sha256")


def cert_frame(records: list[Any], now: datetime | None = None) -> pd.DataFrame:
    """A table of certificates, soonest expiry first: ``expires`` a date, ``days left`` whole days."""
    import pandas as pd

    when = now or datetime.now(UTC)
    rows = [{"node": r.node, "purpose": r.purpose or "", "store": r.store, "common name": r.common_name,
             "issuer": r.issuer, "expires": r.not_after, "days left": whole_days(r.days_left(when)),
             "self-signed": bool(r.self_signed), "sha256": r.fingerprint_sha256[:16] + "..."} for r in records]
    frame = pd.DataFrame(rows, columns=list(_CERT_COLUMNS))
    frame["expires"] = pd.to_datetime(frame["expires"], utc=True)
    frame["days left"] = frame["days left"].astype("Int64")
    return frame.sort_values("days left", kind="stable").reset_index(drop=True)


def cert_table(records: list[Any], now: datetime | None = None, *, threshold_days: float | None = None) -> Styler:
    """``cert_frame`` for display (pandas Styler): no index, due rows amber, expired rows red."""
    frame = cert_frame(records, now)
    return styled(frame, dates=("expires",), days="days left", threshold=threshold_days,
                  caption=None if len(frame) else "(no certificates)")


def _steps_json(steps: tuple[StepRecord, ...]) -> list[dict[str, Any]]:
    return [step.to_json() for step in steps]


# ---------------------------------------------------------------- registration recording


@dataclass
class _Registrations:
    """Registration counts seen while the engine polls RisPort (for the recovery plot)."""

    points: list[tuple[float, int, int]] = field(default_factory=list)   # (time, registered, total)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, summary: Any) -> None:
        registered = int(getattr(summary, "registered", 0))
        total = len(getattr(summary, "devices", ()) or ()) or registered
        with self.lock:
            self.points.append((time.time(), registered, total))


class _RecordingCluster:
    """The engine's view of the cluster (``ClusterPort``), passed through, with registration answers recorded."""

    def __init__(self, cluster: ClusterPort, registrations: _Registrations) -> None:
        self._cluster = cluster
        self._registrations = registrations

    @property
    def name(self) -> str:
        return self._cluster.name

    @property
    def nodes(self) -> Sequence[NodePort]:
        return self._cluster.nodes

    @property
    def publisher(self) -> NodePort:
        return self._cluster.publisher

    def node(self, name_or_fqdn: str) -> NodePort:
        return self._cluster.node(name_or_fqdn)

    def security_mode(self) -> int:
        return self._cluster.security_mode()

    def version(self) -> str:
        return self._cluster.version()

    def phone_interaction(self) -> bool:
        return self._cluster.phone_interaction()

    def sso_enabled(self) -> bool:
        return self._cluster.sso_enabled()

    def sso_by_node(self) -> Sequence[SsoNodeStatus]:
        return self._cluster.sso_by_node()

    def ctl_update(self) -> str:
        return self._cluster.ctl_update()

    def reset_all_devices(self) -> None:
        self._cluster.reset_all_devices()

    def registration(self, *, names: Sequence[str] | None = None, within: float | None = None) -> RegistrationSummary:
        summary = self._cluster.registration(names=names, within=within)
        self._registrations.add(summary)
        return summary


# ---------------------------------------------------------------- progress while waiting


# ---------------------------------------------------------------- the runbook


class Runbook:
    """One purpose's renewal on one cluster, as a notebook steps through it."""

    def __init__(self, *, params: ClusterParams, options: RunOptions, journal: Journal) -> None:
        self.params = params
        self.options = options
        self.journal = journal
        self.purpose = catalogue.get(options.purpose)
        self.registrations = _Registrations()
        self.results: dict[str, Any] = {}   # what each cell showed, for whoever steps through by hand
        self._approved = options.approve
        self._last_message = ""
        self._cluster: Cluster | None = None
        self._renewal: Renewal | None = None
        self._meter: Meter | None = None      # the phase's progress meter, fed by the step observers

    # ---- wiring (lazy: nothing connects until a cell needs it; built by cucmkit.wiring) ----
    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = wiring.open_cluster(self.params)
        return self._cluster

    @property
    def ca_backend(self) -> CaBackend | None:
        return self.renewal.ca_backend

    @property
    def renewal(self) -> Renewal:
        if self._renewal is None:
            from cucmkit.renewal import RenewalOptions

            options = RenewalOptions.from_parameters(self.params, self.purpose.name, dry_run=self.options.dry_run,
                                                     multi_server=self.options.multi_server,
                                                     nodes=self.options.renew_nodes, force_csr=self.options.force_csr,
                                                     overrides=self.options.overrides,
                                                     progress=self._progress, on_step_start=self._step_started,
                                                     observers=(self._step_ended,))
            self._renewal = wiring.open_renewal(
                self.params, self.purpose.name, state_dir=wiring.state_dir_for(self.params, self.options.state_dir),
                ticket=self.options.ticket, ca=self.options.ca, options=options,
                cluster=_RecordingCluster(self.cluster, self.registrations))
            self.journal.write("ledger", path=str(self._renewal.ledger.path))
        return self._renewal

    def _progress(self, text: str) -> None:
        if text != self._last_message:
            self.journal.write("progress", text=text[:300])   # the terminal's live view follows the journal
        self._last_message = text

    def _step_started(self, record: StepRecord) -> None:
        if self._meter is not None and record.name == "restart":
            service = record.key.split(":", 2)[-1]
            self._meter.set(now=f"{service} on {(record.node or '').split('.')[0]}")
        limits = {"restart": self.params.timeouts.restart, "phones-wait": self.params.timeouts.registration}
        self.journal.write("step-start", key=record.key, step=record.name, node=record.node, phase=record.phase,
                           detail=record.detail[:300], limit=limits.get(record.name))

    def _step_ended(self, record: StepRecord) -> None:
        meter = self._meter
        if meter is not None and record.name == "restart" and record.finished:
            meter.set(done=meter.done + 1, now="")
        self.journal.write("step-end", key=record.key, step=record.name, node=record.node, phase=record.phase,
                           outcome=record.outcome, detail=record.detail[:300])

    # ---- cells ----
    def banner(self) -> None:
        mode = "DRY RUN: nothing will change. " if self.options.dry_run else ""
        _markdown(impact_banner(self.purpose.name) + f"\n\n{mode}Cluster **{self.params.cluster}**, "
                  f"ticket **{self.options.ticket}**, CA back-end **{self.options.ca or self.params.ca.backend}**, "
                  f"run by {who()}.")

    def inventory(self, when: str = "before") -> None:
        """This purpose's installed certificate on every node, days left; journaled with fingerprints.

        A node whose Cisco Tomcat restart the previous attempt left unfinished (the ledger says so)
        may not answer: it is named, not listed, and the run goes on to the step that restarts it.
        """
        records: list[CertRecord] = []
        for node in self.cluster.nodes:
            records += [r for r in self._own_or_restarting(node, when) if r.purpose == self.purpose.name]
        self.journal.write("certs", when=when, certs=[cert_entry(r) for r in records])
        frame = cert_frame(records)
        _markdown(f"**{self.purpose.name} certificates {when} the renewal** ({len(records)} nodes)")
        _display(cert_table(records, threshold_days=self.params.expiry_threshold_days))
        self.results[f"inventory-{when}"] = frame
        if "sso_disabled" in self.purpose.prechecks:
            self.sso_status(when)

    def sso_status(self, when: str = "before") -> None:
        """Every node's ``utils sso status``; after the renewal, the table before/after and what changed."""
        from cucmkit.ssowatch import read_sso, sso_changes, sso_frame

        readings = read_sso(self.cluster.nodes)
        self.journal.write("sso", when=when, nodes=[r.to_json() for r in readings])
        self.results[f"sso-{when}"] = readings
        before = self.results.get("sso-before", readings) if when == "after" else readings
        after = readings if when == "after" else ()
        _markdown(f"**SAML SSO (`utils sso status`) {when} the renewal**")
        _display(styled(sso_frame(before, after)))
        if when != "after":
            return
        changes = sso_changes(before, after)
        self.journal.write("sso-changes", changes=changes)
        lines = [f"⚠️ `utils sso status` after differs from before on {len(changes)} node(s):",
                 *[f"- {line}" for line in changes]] if changes else ["`utils sso status` is the same as before."]
        _markdown("\n".join(lines) + "\n\n**Next:** re-export the SP metadata to the IdP (CM Administration > "
                  "System > SAML Single Sign-On > Export All Metadata), then run the SSO test; re-enable SAML SSO "
                  "first if it was disabled for the renewal.")

    def _own_or_restarting(self, node: NodePort, when: str) -> list[CertRecord]:
        from cucmkit.errors import TransportError
        from cucmkit.renewal.interlocks import tomcat_in_flight

        try:
            return list(node.own_certificates())
        except TransportError as exc:
            flights = tomcat_in_flight(self.renewal.ledger.state)
            if not flights:
                raise
            where = ", ".join(sorted({f.node for f in flights}))
            text = (f"{node.name} does not answer ({exc.message}): the previous attempt left a Cisco Tomcat "
                    f"restart unfinished ({', '.join(f.key for f in flights)}), so Tomcat may be restarting or "
                    f"stopped on {where} (the publisher's also answers for the others); its certificate is not "
                    "listed here and the run goes on: the activate step restarts Tomcat")
            self.journal.write("node-unavailable", when=when, node=node.name, detail=text)
            _markdown(f"**Warning:** {text}")
            return []

    def plan(self) -> None:
        plan = self.renewal.plan()
        restarts = [s for s in plan.steps if s.name == "restart"]
        done = sum(1 for s in restarts if (r := self.renewal.ledger.step(s.key)) is not None and r.finished)
        self.journal.write("plan", due=bool(plan.due), steps=len(plan.steps), restarts=len(restarts),
                           restarts_done=done,   # a resumed run counts on from what the ledger has
                           distribution=plan.distribution if self.purpose.multi_server else None)
        _display(plan)
        self.results["plan"] = plan

    def prechecks(self) -> None:
        """Pre-checks and interlocks; a blocking one stops the run here (a dry run only reports it)."""
        report = self.renewal.prechecks()
        self.journal.write("prechecks", ok=bool(report.ok),
                           checks=[c.to_json() for c in report.checks])
        _display(report)
        self.results["prechecks"] = report
        blocking = report.blocking()
        if blocking and not self.options.dry_run:
            text = "; ".join(f"{c.name}: {c.reason}" for c in blocking)
            raise InterlockError(f"pre-checks refuse the renewal: {text}", purpose=self.purpose.name,
                                 remedy="; ".join(c.remedy for c in blocking if c.remedy) or None)

    def approval(self) -> None:
        """Restate what will happen, then approve: parameter, or a button (with the approver's name) when interactive."""
        if self.options.dry_run:
            _markdown("Dry run: no approval needed, nothing will change.")
            return
        scope = self.scope()
        _markdown(scope.markdown())
        self._restart_reasons()
        if self._approved:
            self._approve("parameter approve=True", self.options.approver)
            _markdown(f"[APPROVED] by parameter (`approve=True`){_by(self.options.approver)}, run by {who()}.")
            return
        if is_interactive():
            self._approval_widget(scope)
            return
        self.journal.write("approval", approved=False, how="no approve parameter", scope=scope.headline())
        raise WaitingError(
            f"approval required: {scope.headline()}; stopped before any change",
            purpose=self.purpose.name,
            remedy="re-run with --approve (cucmkit run) or -p approve True (papermill) once the change is approved")

    def scope(self) -> ApprovalScope:
        """What the approval approves (the plan restated: nodes, services, restarts, phones, longest duration)."""
        plan = self.renewal.plan()
        phones = None
        if plan.purpose.resets_phones:
            try:
                phones = self.cluster.registration().registered
            except CucmKitError:
                phones = None
        return ApprovalScope.of(plan, restart_limit=float(self.params.timeouts.restart),
                                registration_limit=float(self.params.timeouts.registration), phones=phones)

    def _approve(self, how: str, approver: str | None) -> None:
        self._approved = True
        self.journal.write("approval", approved=True, by=who(), approver=approver, how=how)

    def _restart_reasons(self) -> None:
        """The services the approved steps restart and why (from the plan the plan cell showed)."""
        plan = self.results.get("plan")
        if not isinstance(plan, Plan) or not plan.restart_reasons():
            return
        _markdown(f"**Services this approval restarts, and why** (CUCM {plan.version or 'version unknown'}):\n"
                  + "".join(f"\n- {r}" for r in plan.restart_reasons()))

    def _approval_widget(self, scope: ApprovalScope) -> Any:
        import ipywidgets as widgets

        name = widgets.Text(value=self.options.approver or "", description="Approver",
                            placeholder="who approved the change", layout=widgets.Layout(width="420px"))
        button = widgets.Button(description=scope.button_label(), button_style="danger",
                                layout=widgets.Layout(width="auto"), tooltip=scope.headline())
        note = widgets.HTML("Nothing changes until you click. Then run the next cells.")

        def approve(_: Any) -> None:
            approver = name.value.strip() or None
            self._approve("button", approver)
            note.value = f"[APPROVED]{_by(approver)}, run by {who()}; run the next cells."
            button.disabled = name.disabled = True

        button.on_click(approve)
        box = widgets.VBox([name, button, note])
        _display(box)
        return box

    def _require_approval(self) -> None:
        if not self._approved and not self.options.dry_run:
            raise WaitingError("not approved yet: nothing was changed", purpose=self.purpose.name,
                               remedy="click Approve in the approval cell (or set approve=True), then run this cell again")

    def csr(self) -> None:
        self._phase("csr")
        for node, entry in sorted(self.renewal.ledger.state.csrs.items()):
            self.journal.write("csr", node=node, purpose=self.purpose.name, fingerprint=entry.fingerprint,
                               pem=entry.pem)

    def ca(self) -> None:
        result = self._phase("ca", stop=False)
        backend = self.ca_backend
        if result.status == "waiting" and is_interactive() and isinstance(backend, InboxCa):
            self._upload_widget(backend)
        _stop_unless_ok(result, self.purpose.name)

    def _upload_widget(self, backend: InboxCa) -> None:
        import ipywidgets as widgets

        rows = []
        for node, request in sorted(self.renewal.ledger.state.requests.items()):
            upload = widgets.FileUpload(description=f"{node}", multiple=True, accept=".pem,.cer,.crt,.der,.p7b,.zip")
            upload.observe(lambda change, rid=request.id: _save_uploads(backend.inbox_for(rid), change["new"]),
                           names="value")
            rows.append(widgets.HBox([widgets.Label(f"CSR: {backend.csr_path(request.id)}"), upload]))
        _display(widgets.VBox([widgets.HTML("<b>Upload the CA's files per node, then run this cell again.</b>"),
                               *rows]))

    def install(self) -> None:
        self._phase("install")

    def activate(self) -> None:
        self._phase("activate", meter=self._restart_meter())

    def phones(self) -> None:
        if not self.purpose.resets_phones:
            _markdown(f"{self.purpose.name} does not reset phones: nothing to watch.")
        try:
            self._phase("phones", meter=self._phone_meter() if self.purpose.resets_phones else None)
        finally:
            if self.registrations.points:
                self.recovery_plot()

    def recovery_plot(self) -> None:
        """Registered phones over time since the reset, against the baseline."""
        with self.registrations.lock:
            points = list(self.registrations.points)
        start = points[0][0]
        figure = _figure(7, 3)
        axis = figure.add_subplot()
        axis.step([p[0] - start for p in points], [p[1] for p in points], where="post", label="registered")
        axis.axhline(max(p[2] for p in points), linestyle="--", color="grey", label="devices seen")
        axis.set(xlabel="seconds since the first poll", ylabel="phones", title="Registration recovery")
        axis.legend(loc="lower right")
        figure.tight_layout()
        _display_png(figure)

    def summary(self) -> None:
        """The whole run as the engine's ledger has it; the lock is released."""
        result = self.renewal.status()
        status = "dry-run" if self.options.dry_run else ("done" if result.status in ("done", "skipped") else result.status)
        self.journal.write("end", status=status, engine_status=result.status, message=result.message,
                           reminders=list(result.reminders))
        _display(result)
        self.results["summary"] = result
        self.renewal.close()

    # ---- meters: restarts done of planned, phones back of expected ----
    def _restart_meter(self) -> Meter:
        restarts = [s for s in self.renewal.plan().steps if s.name == "restart"]
        done = sum(1 for s in restarts if (r := self.renewal.ledger.step(s.key)) is not None and r.finished)
        self._meter = Meter(label="restarts", unit="restarts done", total=len(restarts), done=done)
        return self._meter

    def _phone_meter(self) -> Meter:
        baseline = self.renewal.ledger.state.baseline
        expected = max(0, (baseline.registered if baseline else 0) - int(self.params.registration.tolerance))
        self._meter = Meter(label="phones", unit="phones back", total=expected)
        return self._meter

    def _feed_phones(self, meter: Meter) -> None:
        with self.registrations.lock:
            last = self.registrations.points[-1] if self.registrations.points else None
        if meter.label == "phones" and last is not None:
            meter.set(done=int(last[1]))

    # ---- the phase wrapper ----
    def _phase(self, name: str, *, meter: Meter | None = None, stop: bool = True) -> Any:
        self._require_approval()
        work = getattr(self.renewal, name)
        self._last_message = ""
        self.journal.write("phase-start", phase=name)
        if meter is not None:
            every = 1.0 if is_interactive() else _PROGRESS_EVERY
            result = MeterDisplay(meter, every=every, feed=self._feed_phones).run(work)
        else:
            result = work()
        self.journal.write("phase-end", phase=name, status=result.status, message=result.message,
                           steps=_steps_json(result.steps))
        _display(result)
        self.results[name] = result
        if stop:
            _stop_unless_ok(result, self.purpose.name)
        return result


def _by(approver: str | None) -> str:
    return f", approved by {approver}" if approver else ""


def _stop_unless_ok(result: Any, purpose: str) -> None:
    """Raise the cucmkit error matching a phase that did not finish, so the notebook stops there."""
    remedy = getattr(result, "remedy", "") or None
    if result.status == "waiting":
        raise WaitingError(result.message, purpose=purpose, remedy=remedy)
    if result.status == "blocked":
        raise InterlockError(result.message, purpose=purpose, remedy=remedy)
    if result.status == "failed":
        raise CucmKitError(result.message, purpose=purpose, remedy=remedy)


def _save_uploads(folder: Path, value: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in value or ():
        (folder / Path(item["name"]).name).write_bytes(bytes(item["content"]))


# ---------------------------------------------------------------- the inventory notebook


class InventoryBook:
    """Every certificate of a cluster, what expires when, what is due."""

    def __init__(self, *, params: ClusterParams, options: RunOptions, journal: Journal) -> None:
        self.params = params
        self.options = options
        self.journal = journal
        self._records: list[Any] | None = None
        self._cluster: Cluster | None = None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = wiring.open_cluster(self.params)
        return self._cluster

    def banner(self) -> None:
        _markdown(f"### Certificate inventory of cluster **{self.params.cluster}**\n\n"
                  f"Ticket **{self.options.ticket}**, run by {who()}; read-only: nothing is changed. "
                  f"Due means expiring within {self.params.expiry_threshold_days} days.")

    def records(self) -> list[Any]:
        if self._records is None:
            self._records = list(self.cluster.inventory())
        return self._records

    def certificates(self) -> None:
        records = self.records()
        own = [r for r in records if r.store == "own"]
        self.journal.write("certs", when="before", certs=[cert_entry(r) for r in own])
        table = cert_table(records, threshold_days=self.params.expiry_threshold_days)
        _markdown(f"**{len(records)} certificates** on {len(self.cluster.nodes)} nodes ({len(own)} identities)")
        _display(table)

    def timeline(self) -> None:
        """When each identity certificate expires, per node and purpose (a matplotlib PNG)."""
        own = sorted((r for r in self.records() if r.store == "own"), key=lambda r: (r.purpose or "", r.node or ""))
        now = datetime.now(UTC)
        threshold = self.params.expiry_threshold_days
        points = [(f"{r.purpose} @ {(r.node or '').split('.')[0]}", r.not_after, r.days_left(now) < threshold)
                  for r in own]
        _display_png_bytes(timeline_png(points, now=now, title="Identity certificates: expiry (red = due)"))

    def due(self) -> None:
        now = datetime.now(UTC)
        due = [r for r in self.records() if r.store == "own" and r.days_left(now) < self.params.expiry_threshold_days]
        purposes = sorted({r.purpose for r in due if r.purpose})
        safe = catalogue.runbook_order()
        order = [p for p in safe if p in purposes] + [p for p in purposes if p not in safe]
        self.journal.write("due", purposes=order, count=len(due))
        _markdown("**Due for renewal**, in the safe order: " + (", ".join(order) or "nothing") +
                  "".join(f"\n- {renew_hint(name)}" for name in order))
        _display(cert_table(due, now, threshold_days=self.params.expiry_threshold_days))
        self.journal.write("end", status="done")


def renew_hint(purpose: str) -> str:
    """The command that renews ``purpose`` (one that works: its runbook, or the plan when it has none): the
    catalogue's hint (ITLRecovery: regenerated, not CA-signed)."""
    try:
        return catalogue.renew_hint(purpose)
    except ValueError:       # a unit the catalogue does not know
        return f"{purpose}: not in the catalogue; renew it by hand"


# ---------------------------------------------------------------- entry points (one call in the first step cell)


def _open(namespace: Mapping[str, Any], purpose: str | None) -> tuple[ClusterParams, RunOptions, Journal]:
    from cucmkit.params import from_notebook

    _quiet_tracebacks()
    options = RunOptions.from_namespace(namespace, purpose=purpose)
    journal = Journal(Path(options.journal_file) if options.journal_file else None)
    runner = stopping.attach_to_runner()   # under `cucmkit run`: SIGTERM / the runner's death stop at a step boundary
    if runner is not None:
        journal.write("kernel", pid=os.getpid(), runner=runner)   # whom the runner sends its stop request
    params = from_notebook(namespace)
    journal.write("open", cluster=params.cluster, purpose=options.purpose, ticket=options.ticket,
                  ca=options.ca, approve=options.approve, dry_run=options.dry_run, run_by=who(),
                  parameters_file=str(namespace.get("parameters_file") or ""))
    return params, options, journal


def open_runbook(namespace: Mapping[str, Any]) -> Runbook:
    """Read the ``parameters`` cell (``globals()``), show the impact/risk banner, return the runbook."""
    params, options, journal = _open(namespace, None)
    book = Runbook(params=params, options=options, journal=journal)
    book.banner()
    return book


def open_inventory(namespace: Mapping[str, Any]) -> InventoryBook:
    params, options, journal = _open(namespace, "inventory")
    book = InventoryBook(params=params, options=options, journal=journal)
    book.banner()
    return book
