"""The certificate purposes of a CUCM cluster, as data.

Everything in cucmkit that depends on the purpose (validation, planning, the
lab cluster, the notebooks) reads it from here. Adding a purpose is adding a
``Purpose`` value to ``PURPOSES``; nothing else should need to change.

Sources: PROCEDURE.md (the renewal procedure), Cisco TAC 217138, the CUCM
security guide's CSR key-usage table (cucm-interfaces.md section 8).
Items marked [INF] in that reference are kept here so one edit corrects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "NodeScope",
    "Risk",
    "Restart",
    "Purpose",
    "PURPOSES",
    "get",
    "names",
    "UploadMessages",
    "MESSAGES",
    "IPSEC_END_SYSTEM_OID",
]

IPSEC_END_SYSTEM_OID = "1.3.6.1.5.5.7.3.5"


class NodeScope(str, Enum):
    """Which nodes of a cluster hold a purpose's certificate."""

    ALL = "all"                # every node: CUCM and IM&P
    CUCM = "cucm"              # CallManager nodes only
    TVS = "tvs"                # CallManager nodes that run Cisco Trust Verification Service
    PUBLISHER = "publisher"    # the CUCM publisher only


class Risk(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Restart:
    """One service a renewal restarts, and where.

    ``where`` uses NodeScope values. Only nodes where the service is activated
    and running are restarted (the procedure's "only those running and
    activated"). ``via`` is "cli" for Cisco Tomcat (Control Center runs inside
    Tomcat and cannot restart it) and "controlcenter" for everything else.
    """

    service: str
    where: NodeScope = NodeScope.ALL
    via: str = "controlcenter"


@dataclass(frozen=True)
class Purpose:
    name: str                          # CUCM's unit / service name, e.g. "tomcat"
    trust_store: str                   # e.g. "tomcat-trust"
    scope: NodeScope                   # nodes that need a CA-signed certificate
    key_usage: frozenset[str]          # cryptography KeyUsage attribute names required
    extended_key_usage: frozenset[str] # dotted OIDs required
    key_type: str = "rsa"              # "rsa" or "ec"
    ca_required: bool = False          # leaf must be CA:TRUE (CAPF)
    path_length: int | None = None     # required pathlen when ca_required
    multi_server: bool = False         # multi-SAN CSR allowed
    restarts: tuple[Restart, ...] = ()
    activated_by: str = ""             # service whose restart makes a new certificate live
    ctl_update_in_mixed_mode: bool = False
    resets_phones: bool = False
    conflicts_with: tuple[str, ...] = ()   # purposes that must not be in flight together
    prechecks: tuple[str, ...] = ()        # names of renewal pre-checks ("sso_disabled", "no_backup")
    self_signed_elsewhere: NodeScope | None = None  # nodes offered self-signed regeneration instead
    risk: Risk = Risk.MEDIUM
    window: str = "after hours"
    impact: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    filename: str = field(default="")  # own file name on the node, e.g. "tomcat.pem"

    @property
    def base(self) -> str:
        """The purpose without its -ECDSA suffix (tomcat-ECDSA -> tomcat)."""
        return self.name.removesuffix("-ECDSA")

    @property
    def pem_name(self) -> str:
        return self.filename or f"{self.name}.pem"

    @property
    def csr_path(self) -> str:
        """Where CUCM keeps the pending CSR (shown in its 'does not exist' error)."""
        unit = self.name.lower()
        return f"/usr/local/platform/.security/{unit}/keys/{unit}.csr"

    def restart_services(self) -> tuple[str, ...]:
        return tuple(r.service for r in self.restarts)


_SERVER = "1.3.6.1.5.5.7.3.1"
_CLIENT = "1.3.6.1.5.5.7.3.2"
_DS, _KE, _DE, _KA, _CS = (
    "digital_signature",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
)

_TOMCAT_IMPACT = (
    "SAML SSO login fails.",
    "Phones cannot reach HTTPS services hosted on CUCM (corporate directory, etc.).",
    "Web pages of other nodes are unreachable.",
    "Extension Mobility and inter-cluster Extension Mobility fail.",
    "Expressway traversal zone goes down when TLS verify is on.",
    "UCCX: the new root and intermediate must be in UCCX tomcat-trust or Finesse desktop login breaks.",
)
_TOMCAT_RESTARTS = (Restart("Cisco Tomcat", NodeScope.ALL, via="cli"),)
_CM_IMPACT = (
    "Phone registration problems; encrypted or authenticated phones do not register.",
    "TFTP not trusted: phones reject signed configuration and ITL files.",
    "Secure SIP trunks and media resources (conference bridge, MTP, transcoder) fail.",
    "AXL requests fail.",
)
_CM_RESTARTS = (
    Restart("Cisco Trust Verification Service", NodeScope.CUCM),
    Restart("Cisco TFTP", NodeScope.CUCM),
    Restart("Cisco CallManager", NodeScope.CUCM),
    Restart("Cisco CTIManager", NodeScope.CUCM),
)
_CM_TVS_CAUTION = (
    "Never regenerate CallManager and TVS at the same time: the ITL on every phone would "
    "no longer match and would have to be deleted from each phone by hand. Finish one, "
    "wait until all phones have re-registered, then start the other.",
)


def _tomcat(name: str, key_type: str) -> Purpose:
    return Purpose(
        name=name,
        trust_store=f"{name}-trust",
        scope=NodeScope.ALL,
        key_usage=frozenset({_DS, _KE, _DE}) if key_type == "rsa" else frozenset({_DS}),
        extended_key_usage=frozenset({_SERVER, _CLIENT}),
        key_type=key_type,
        multi_server=True,
        restarts=_TOMCAT_RESTARTS,
        activated_by="Cisco Tomcat",
        prechecks=("sso_disabled",),
        risk=Risk.MEDIUM,
        window="after hours",
        impact=_TOMCAT_IMPACT,
        notes=(
            "Disable SAML SSO cluster-wide before regeneration; re-enable it when the whole process is done.",
            "Restart Cisco Tomcat from the CLI: publisher first, then each subscriber one at a time.",
        ),
    )


def _callmanager(name: str, key_type: str) -> Purpose:
    return Purpose(
        name=name,
        trust_store=f"{name}-trust",
        scope=NodeScope.CUCM,
        key_usage=frozenset({_DS, _KE, _DE, _KA}) if key_type == "rsa" else frozenset({_DS, _KA}),
        extended_key_usage=frozenset({_SERVER, _CLIENT}),
        key_type=key_type,
        multi_server=True,
        restarts=_CM_RESTARTS,
        activated_by="Cisco CallManager",
        ctl_update_in_mixed_mode=True,
        resets_phones=True,
        conflicts_with=("TVS",),
        risk=Risk.HIGH,
        window="after hours",
        impact=_CM_IMPACT,
        notes=_CM_TVS_CAUTION,
    )


PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        _tomcat("tomcat", "rsa"),
        _tomcat("tomcat-ECDSA", "ec"),
        Purpose(
            name="ipsec",
            trust_store="ipsec-trust",
            scope=NodeScope.ALL,
            key_usage=frozenset({_DS, _KE, _DE, _KA}),
            extended_key_usage=frozenset({_SERVER, _CLIENT, IPSEC_END_SYSTEM_OID}),
            restarts=(
                Restart("Cisco DRF Master", NodeScope.PUBLISHER),
                Restart("Cisco DRF Local", NodeScope.ALL),
            ),
            activated_by="Cisco DRF Local",
            prechecks=("no_backup",),
            risk=Risk.LOW,
            window="business hours, outside any backup schedule",
            impact=(
                "Disaster Recovery System / Framework (DRS/DRF) stops working.",
                "IPsec tunnels to gateways or other clusters fail.",
            ),
            notes=(
                "No backup or restore may be running during regeneration.",
                "The intermediate goes to ipsec-trust like the root (the source's 'tomcat-trust' here is a slip).",
                "Take a fresh DRS backup after the renewal.",
            ),
        ),
        Purpose(
            name="CAPF",
            trust_store="CAPF-trust",
            scope=NodeScope.PUBLISHER,
            key_usage=frozenset({_DS, _CS}),
            extended_key_usage=frozenset({_SERVER}),
            ca_required=True,
            path_length=0,
            restarts=(
                Restart("Cisco Trust Verification Service", NodeScope.CUCM),
                Restart("Cisco TFTP", NodeScope.CUCM),
                Restart("Cisco Certificate Authority Proxy Function", NodeScope.PUBLISHER),
            ),
            activated_by="Cisco Certificate Authority Proxy Function",
            ctl_update_in_mixed_mode=True,
            resets_phones=True,
            self_signed_elsewhere=NodeScope.CUCM,
            risk=Risk.HIGH,
            window="after hours",
            impact=(
                "Endpoint authentication/encryption settings (except online and offline CAPF modes).",
                "Phone VPN, 802.1x and phone proxy.",
                "CTI, JTAPI and TAPI applications.",
            ),
            notes=(
                "CAPF runs only on the publisher; subscribers' CAPF certificates need not be CA-signed. "
                "Regenerate theirs as self-signed to silence expiry alerts.",
                "In mixed mode (ClusterSecurityMode 1) update the CTL before restarting services.",
                "Then reset all phones and wait until all have re-registered before the next purpose.",
            ),
        ),
        _callmanager("CallManager", "rsa"),
        _callmanager("CallManager-ECDSA", "ec"),
        Purpose(
            name="TVS",
            trust_store="TVS-trust",
            scope=NodeScope.TVS,
            key_usage=frozenset({_DS, _KE, _DE}),            # [INF] no explicit text block in the guide
            extended_key_usage=frozenset({_SERVER, _CLIENT}),  # [INF]
            restarts=(
                Restart("Cisco TFTP", NodeScope.CUCM),
                Restart("Cisco Trust Verification Service", NodeScope.TVS),
            ),
            activated_by="Cisco Trust Verification Service",
            resets_phones=True,
            conflicts_with=("CallManager", "CallManager-ECDSA"),
            risk=Risk.HIGH,
            window="after hours",
            impact=(
                "Phone registration problems; new phones cannot register.",
                "Devices cannot reach HTTPS applications (Extension Mobility, directories, MIDlets).",
                "ITL and configuration file authentication fails.",
            ),
            notes=_CM_TVS_CAUTION,
        ),
        Purpose(
            name="ITLRecovery",
            trust_store="ITLRecovery-trust",
            scope=NodeScope.PUBLISHER,
            key_usage=frozenset({_DS}),
            extended_key_usage=frozenset({_SERVER, _CLIENT}),
            restarts=(
                Restart("Cisco TFTP", NodeScope.CUCM),
                Restart("Cisco Trust Verification Service", NodeScope.TVS),
            ),
            activated_by="Cisco TFTP",
            ctl_update_in_mixed_mode=True,
            resets_phones=True,
            risk=Risk.HIGH,
            window="after hours",
            impact=("Signs the ITL since 12.0: a botched regeneration breaks ITL and config authentication on phones.",),
            notes=("Normally self-signed; kept for completeness (utils ctl reset localkey, reset phones, CTL update, reset again).",),
        ),
    )
}

# The purposes the runbooks renew, in the safe order (CallManager and TVS apart,
# each behind a phone re-registration gate).
RUNBOOK_ORDER: tuple[str, ...] = ("tomcat", "ipsec", "CAPF", "CallManager", "TVS")
__all__.append("RUNBOOK_ORDER")


def get(name: str) -> Purpose:
    """The purpose by CUCM name (case-insensitive); ValueError names the valid ones."""
    for key, purpose in PURPOSES.items():
        if key.lower() == name.lower():
            return purpose
    raise ValueError(f"unknown certificate purpose {name!r}; valid: {', '.join(PURPOSES)}")


def names() -> tuple[str, ...]:
    return tuple(PURPOSES)


@dataclass(frozen=True)
class UploadMessages:
    """The messages CUCM answers a refused upload with (PROCEDURE.md's table).

    The lab cluster answers with these; the validator quotes them so the
    engineer sees what CUCM would have said. ``{...}`` fields are filled per call.
    """

    ca_not_in_trust: str = "CA Certificate is Not Available in the Trust-Store"
    no_csr: str = "The file {csr_path} does not exist"
    no_csr_alt: str = "The file /usr/local/platform/upload/certs//{unit}.der could not be uploaded."
    key_mismatch: str = "CSR Public Key and Certificate Public Key Do Not Match"
    san_mismatch: str = "CSR Subject Alternate Name (SAN) and Certificate SAN Does Not Match"
    expired: str = "Certificate is expired and cannot be uploaded"                       # [INF] wording
    not_replaced_older: str = (
        "A certificate with the same CN already exists with a newer validity start date; "
        "the uploaded certificate was not stored"                                          # [INF] CUCM is silent here
    )
    wildcard: str = "Wildcard certificates are not supported"                             # [INF] wording
    key_too_large: str = "Certificate key size exceeds the maximum of 4096 bits"          # [INF] wording
    bad_format: str = "Invalid certificate format: only PEM or DER encoded certificates are accepted"  # [INF]
    import_ok: str = "Successfully imported certificate for {unit}."
    restart_hint: str = "Please restart services related to {unit} for the new certificate to become active."


MESSAGES = UploadMessages()
