"""How a renewal runs: ``RenewalOptions``, built from a parameter file or by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cucmkit.renewal.checks import MaintenanceWindow, validate_overrides
from cucmkit.renewal.hooks import StepObserver
from cucmkit.renewal.state import utcnow
from cucmkit.sans import ExtraSans, NamePolicy

if TYPE_CHECKING:
    from cucmkit.params import ClusterParams
    from cucmkit.params import MaintenanceWindow as WindowParams

__all__ = ["RenewalOptions"]


@dataclass(frozen=True)
class RenewalOptions:
    """How a renewal runs. Build from a parameter file with ``RenewalOptions.from_parameters``."""

    nodes: tuple[str, ...] = ()              # renew these even when not due (FQDN or short name)
    threshold_days: float = 60.0
    force_csr: bool = False                  # regenerate CSRs even if one was submitted to the CA
    self_signed: bool = True                 # offer self-signed regeneration where the catalogue says so
    multi_server: bool = False               # one multi-server (multi-SAN) certificate for every node in scope
    names: NamePolicy = NamePolicy()         # extra SAN entries, the CA's -ms common name rule (cucmkit.sans)
    dry_run: bool = False                    # plan only; every phase answers "skipped"
    overrides: Mapping[str, str] = field(default_factory=dict)  # check name -> recorded reason
    maintenance_window: MaintenanceWindow = MaintenanceWindow()
    restart_timeout: float = 600.0
    tls_timeout: float = 60.0
    registration_timeout: float = 1800.0
    registration_tolerance: int = 0
    poll_interval: float = 5.0
    key_size: int = 2048                     # RSA purposes
    ec_key_size: int = 256                   # -ECDSA purposes
    parallel: int = 4
    progress: Callable[[str], None] | None = None
    clock: Callable[[], datetime] = utcnow
    observers: tuple[StepObserver, ...] = ()  # called after each step's outcome was persisted
    on_step_start: StepObserver | None = None  # called with the "running" record before a step's handler runs

    def __post_init__(self) -> None:
        validate_overrides(self.overrides)
        if isinstance(self.nodes, str):
            raise TypeError("nodes must be a sequence of node names")
        if not isinstance(self.multi_server, bool):
            raise TypeError("multi_server must be True or False")

    @classmethod
    def from_parameters(cls, params: ClusterParams, purpose: str | None = None, **kw: Any) -> RenewalOptions:
        """Threshold, window, restart (also the TLS verify budget) and registration timeouts and tolerance
        from the parameter file, and for ``purpose`` whether it is renewed multi-server (``multi_server:``);
        ``kw`` wins (``multi_server=None`` in ``kw`` means: as the parameter file says)."""
        if kw.get("multi_server", False) is None:
            kw.pop("multi_server")
        base: dict[str, Any] = {
            "multi_server": purpose is not None and params.uses_multi_server(_catalogue_name(purpose)),
            "threshold_days": float(params.expiry_threshold_days),
            "maintenance_window": _window(params.maintenance_window),
            "restart_timeout": float(params.timeouts.restart),
            "tls_timeout": float(params.timeouts.restart),     # a restarted Tomcat serving again
            "registration_timeout": float(params.timeouts.registration),
            "registration_tolerance": int(params.registration.tolerance),
            "names": _names(params),
        }
        return cls(**{**base, **kw})


def _names(params: ClusterParams) -> NamePolicy:
    """The parameter file's extra SAN entries and its CA's ``refuses_ms_common_name``."""
    extra = getattr(params, "extra_sans", None)
    return NamePolicy(extra=extra if isinstance(extra, ExtraSans) else ExtraSans(),
                      refuses_ms_common_name=getattr(params.ca, "refuses_ms_common_name", False) is True)


def _catalogue_name(purpose: str) -> str:
    from cucmkit import catalogue

    return catalogue.get(purpose).name


def _window(window: WindowParams | None) -> MaintenanceWindow:
    return MaintenanceWindow() if window is None else MaintenanceWindow(window.start, window.end)
