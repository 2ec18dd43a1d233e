"""The lab CA back-end: AD CS web enrolment against the embedded lab's CA.

The lab CA speaks AD CS (CONTRACTS §1.7), so this is ``AdcsCa`` with the lab's
defaults (``https://127.0.0.1:9443/certsrv/``, FQDN ``ca.lab.example``, user
``causer``, templates ``CUCM-<purpose>``) filled in where the parameter file's
``ca:`` section leaves them out.
"""

from __future__ import annotations

from pydantic.dataclasses import dataclass

from cucmkit.ca.adcs import AdcsCa, AdcsConfig
from cucmkit.ca.registry import BackendSpec
from cucmkit.params import SECTION, ClusterParams

__all__ = ["LAB_DEFAULTS", "LabCa", "LabConfig", "BACKEND", "lab_backend"]

LAB_DEFAULTS = {"url": "https://127.0.0.1:9443/certsrv/", "fqdn": "ca.lab.example", "username": "causer",
                "template_prefix": "CUCM-"}


class LabCa(AdcsCa):
    kind = "lab"


def lab_backend(params: ClusterParams) -> AdcsCa:
    """``LabCa`` from the parameter file's AD CS keys, the lab's defaults where they are left out."""
    ca = params.ca if isinstance(params.ca, AdcsConfig) else None
    missing = {k: v for k, v in LAB_DEFAULTS.items() if not (ca and getattr(ca, k))}
    return LabCa.from_parameters(params, **missing)

@dataclass(frozen=True, config=SECTION, kw_only=True)
class LabConfig(AdcsConfig):
    """The AD CS keys, pointed at the embedded lab's CA (``cucmkit lab start`` writes them)."""

    backend: str = "lab"


BACKEND = BackendSpec(kind="lab", config=LabConfig, build=lambda params, folder: lab_backend(params),
                      summary="the embedded lab's CA, spoken to as AD CS web enrolment.")
