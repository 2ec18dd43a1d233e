"""The certificate purposes of a CUCM cluster, as data.

Everything in cucmkit that depends on the purpose reads it from here: the
planner (node scope, restart order, verify steps, reminders), the notebook
generator (runbook, variants, scope text, warnings, runbook order), the
validator (key usages), the runner (which notebook) and the lab cluster (which
node kinds carry the unit, key usages its CA signs with, the service that
activates it). None of them names a purpose. Adding a purpose is adding a
``Purpose`` value to ``PURPOSES`` (or ``register``-ing one); nothing else
changes.

Sources: PROCEDURE.md (the renewal procedure), Cisco TAC 217138, the CUCM
security guide's CSR key-usage table (cucm-interfaces.md section 8), the IM&P
configuration guide's certificate chapter (cucm-14-15-facts.md "IM&P").
Items marked [INF] in that reference are kept here so one edit corrects them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "NodeScope",
    "ScopeRule",
    "NodeRank",
    "CUCM_PUBLISHER_FIRST",
    "IMP_PUBLISHER_FIRST",
    "Verify",
    "Precheck",
    "PRECHECKS",
    "RunbookFacts",
    "Reminder",
    "Risk",
    "Restart",
    "Purpose",
    "PURPOSES",
    "RUNBOOK_ORDER",
    "get",
    "names",
    "register",
    "registered",
    "runbooks",
    "runbook_order",
    "runbook_for",
    "renew_hint",
    "variants",
    "units_for",
    "activated_by",
    "conflict_pairs",
    "UploadMessages",
    "MESSAGES",
    "IPSEC_END_SYSTEM_OID",
    "TVS_SERVICE",
    "RECOMMENDED_KEY_USAGES",
    "TFTP_SERVICE",
    "RELEASES",
    "release",
    "same_service",
]

IPSEC_END_SYSTEM_OID = "1.3.6.1.5.5.7.3.5"
TVS_SERVICE = "Cisco Trust Verification Service"
TFTP_SERVICE = "Cisco Tftp"        # CUCM's own spelling (TAC 118744: ``Cisco Tftp[STARTED]``)
HAPROXY = "Cisco HAProxy"
CUCM, IMP = "CUCM", "IM&P"          # node kinds (NodeFacts.kind, the lab's NodeSpec.kind)

# Named releases -> the first build number of that release (CUCM builds: 14SU1 = 14.0.1.11900-x, ...;
# Cisco's release notes name each SU by its build) [INF: build numbers from Cisco's download pages' naming].
RELEASES: dict[str, tuple[int, ...]] = {
    "12.5": (12, 5),
    "14": (14,),
    "14SU1": (14, 0, 1, 11900),
    "14SU2": (14, 0, 1, 12900),
    "14SU3": (14, 0, 1, 13900),
    "15": (15,),
}


def release(version: str | None) -> tuple[int, ...] | None:
    """A CUCM version ("14.0.1.13900-155", "12.5", "15") as comparable numbers; None when unknown ("auto", "")."""
    if not version or version == "auto":
        return None
    numbers = tuple(int(part) for part in version.replace("-", ".").split(".") if part.isdigit())
    return numbers or None


def _at_least(version: tuple[int, ...], name: str) -> bool:
    return version >= RELEASES[name]


def same_service(a: str, b: str) -> bool:
    """Service names as CUCM matches them: case-insensitive ("Cisco TFTP" is "Cisco Tftp")."""
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True)
class ScopeRule:
    """Which nodes a scope covers: node kinds, optionally the publisher only or a running service."""

    text: str                            # how a runbook says it ("every CallManager node")
    kinds: frozenset[str]
    publisher_only: bool = False
    service: str | None = None           # only nodes where this service is activated and running

    def covers(self, *, kind: str, role: str, services: frozenset[str] = frozenset()) -> bool:
        if kind not in self.kinds:
            return False
        if self.publisher_only and role != "publisher":
            return False
        return self.service is None or any(same_service(self.service, s) for s in services)


class NodeScope(str, Enum):
    """Which nodes of a cluster hold a purpose's certificate (the rule is ``SCOPES[scope]``)."""

    ALL = "all"                # every node: CUCM and IM&P
    CUCM = "cucm"              # CallManager nodes only
    TVS = "tvs"                # CallManager nodes that run Cisco Trust Verification Service
    PUBLISHER = "publisher"    # the CUCM publisher only
    IMP = "imp"                # IM&P nodes only
    IMP_PUBLISHER = "imp-publisher"  # the IM&P database publisher only

    @property
    def rule(self) -> ScopeRule:
        return _SCOPES[self]

    @property
    def text(self) -> str:
        return _SCOPES[self].text

    def covers(self, *, kind: str, role: str, services: frozenset[str] = frozenset()) -> bool:
        return _SCOPES[self].covers(kind=kind, role=role, services=services)


_SCOPES: dict[NodeScope, ScopeRule] = {
    NodeScope.ALL: ScopeRule("every node (CallManager and IM&P)", frozenset({CUCM, IMP})),
    NodeScope.CUCM: ScopeRule("every CallManager node", frozenset({CUCM})),
    NodeScope.TVS: ScopeRule("every node running Cisco Trust Verification Service", frozenset({CUCM}),
                             service=TVS_SERVICE),
    NodeScope.PUBLISHER: ScopeRule("the CUCM publisher only", frozenset({CUCM}), publisher_only=True),
    NodeScope.IMP: ScopeRule("every IM&P node", frozenset({IMP})),
    NodeScope.IMP_PUBLISHER: ScopeRule("the IM&P database publisher only", frozenset({IMP}), publisher_only=True),
}


@dataclass(frozen=True)
class NodeRank:
    """Nodes that match (kind and/or role; None matches any) go before the nodes that do not."""

    kind: str | None = None
    role: str | None = None

    def matches(self, *, kind: str, role: str) -> bool:
        return self.kind in (None, kind) and self.role in (None, role)


# Restart order: nodes matching the first rank first, then the second, ..., then the rest in cluster order;
# one node at a time (PROCEDURE.md: "publisher first, then each subscriber one at a time").
CUCM_PUBLISHER_FIRST: tuple[NodeRank, ...] = (NodeRank(CUCM, "publisher"),)
# IM&P: the IM&P database publisher first, then the other IM&P nodes (cucm-14-15-facts.md "IM&P") [INF order].
IMP_PUBLISHER_FIRST: tuple[NodeRank, ...] = (NodeRank(IMP, "publisher"), NodeRank(IMP))


class Verify(str, Enum):
    """A check that follows activation on every changed node (the value is the plan's step name)."""

    TLS = "verify-tls"          # the node serves the new certificate over TLS


@dataclass(frozen=True)
class Precheck:
    """A pre-check a purpose needs: the runbook's bullet and the reminder that closes the run."""

    name: str                   # the engine's check name (renewal/checks.py)
    runbook_text: str
    reminder_key: str           # plan step key "reminder:<key>"
    reminder: str


PRECHECKS: dict[str, Precheck] = {
    p.name: p
    for p in (
        Precheck("sso_disabled",
                 "**SAML SSO must be disabled cluster-wide** (CM Administration > System > SAML Single Sign-On) "
                 "before the regeneration; re-enable it when the whole process is done. Exception (CUCM 14+): "
                 "with SSO enabled cluster-wide the certificate must be multi-server (TAC 217268) and is renewed "
                 "with SSO on. `utils sso status` is read on every node before and after (a table in the evidence).",
                 "sso", "re-enable SAML SSO cluster-wide now that the renewal is done (if it was disabled for it); "
                 "then re-export the SP metadata to the IdP (System > SAML Single Sign-On > Export All Metadata) "
                 "and run the SSO test"),
        Precheck("no_backup", "**No DRS backup or restore may be running** during the regeneration.",
                 "backup", "take a fresh DRS backup"),
    )
}


@dataclass(frozen=True)
class RunbookFacts:
    """Which notebook renews a purpose and what its runbook says beyond the purpose's own facts."""

    notebook: str                       # file stem in notebooks/, e.g. "tomcat"
    order: int                          # place in the safe order of runbooks (lower first)
    variant: bool = False               # runs from another purpose's notebook (purpose = "<name>")
    activate_warnings: tuple[str, ...] = ()   # bullets of the activate step's markdown
    phones_warnings: tuple[str, ...] = ()     # bullets of the phones step's markdown


@dataclass(frozen=True)
class Reminder:
    """Something the kit cannot do or read itself: a closing step of the run ("reminder:<key>")."""

    key: str
    text: str


class Risk(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Restart:
    """One service a renewal restarts, where, from which release, and why.

    ``where`` uses NodeScope values. Only nodes where the service is activated
    and running are restarted (the procedure's "only those running and
    activated"). ``via`` is "cli" for Cisco Tomcat (Control Center runs inside
    Tomcat and cannot restart it) and "controlcenter" for everything else.
    ``since``/``until`` name ``RELEASES`` (``until`` excluded): the restart
    applies to clusters of those releases only; an unknown version applies
    every entry (only running services are restarted anyway). ``command``: a
    CLI command that reloads something that is not a service (``utils ipsec
    restart``); such a step runs on every node of ``where``.
    """

    service: str
    where: NodeScope = NodeScope.ALL
    via: str = "controlcenter"
    since: str | None = None
    until: str | None = None
    reason: str = ""
    command: str | None = None

    def applies(self, version: tuple[int, ...] | None) -> bool:
        """This restart belongs to the release ``version`` (None: unknown, every entry applies)."""
        if version is None:
            return True
        if self.since is not None and not _at_least(version, self.since):
            return False
        return self.until is None or not _at_least(version, self.until)

    @property
    def why(self) -> str:
        """The reason shown in the plan, with the release range."""
        since = f" (from {self.since})" if self.since else ""
        until = f" (before {self.until})" if self.until else ""
        return f"{self.reason}{since}{until}".strip()


@dataclass(frozen=True)
class Purpose:
    name: str                          # CUCM's unit / service name, e.g. "tomcat"
    trust_store: str                   # e.g. "tomcat-trust"
    scope: NodeScope                   # nodes that need a CA-signed certificate
    key_usage: frozenset[str]          # cryptography KeyUsage attribute names required (the lab CA sets them)
    extended_key_usage: frozenset[str] # dotted OIDs required (the lab CA sets them)
    key_type: str = "rsa"              # "rsa" or "ec"
    ca_required: bool = False          # leaf must be CA:TRUE (CAPF)
    path_length: int | None = None     # required pathlen when ca_required
    ca_required_since: str | None = None  # RELEASES name from which ca_required holds (None: every release)
    ca_signed: bool = True             # False: regenerated on the node only, never CSR -> CA -> upload
    regenerate_command: str = ""       # how the node regenerates it (CLI), shown in plans and the inventory
    chain_also_to: tuple[str, ...] = ()    # other purposes whose trust stores also get the CA chain
    auto_phone_reset: bool = False     # "Phone Interaction on Certificate Update" (14+) resets phones on change
    multi_server: bool = False         # multi-SAN CSR allowed
    wildcard_san: bool = False         # wildcard SANs allowed (cup-xmpp-s2s only; the validator reads it)
    restarts: tuple[Restart, ...] = ()
    restart_order: tuple[NodeRank, ...] = CUCM_PUBLISHER_FIRST
    activated_by: str = ""             # service whose restart makes a new certificate live
    verify: tuple[Verify, ...] = ()    # checks after activation on each changed node
    ctl_update_in_mixed_mode: bool = False
    resets_phones: bool = False
    conflicts_with: tuple[str, ...] = ()   # purposes that must not be in flight together
    prechecks: tuple[str, ...] = ()        # keys of PRECHECKS ("sso_disabled", "no_backup")
    self_signed_elsewhere: NodeScope | None = None  # nodes offered self-signed regeneration instead
    runbook: RunbookFacts | None = None    # None: no runbook renews it (cucmkit run refuses it)
    reminders: tuple[Reminder, ...] = ()   # closing reminders beyond the pre-checks' own
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

    @property
    def node_kinds(self) -> frozenset[str]:
        """Node kinds that carry this unit at all (CA-signed or self-signed)."""
        kinds = self.scope.rule.kinds
        if self.self_signed_elsewhere is not None:
            kinds = kinds | self.self_signed_elsewhere.rule.kinds
        return kinds

    def restart_services(self) -> tuple[str, ...]:
        return tuple(r.service for r in self.restarts if r.command is None)

    def restarts_for(self, version: str | None) -> tuple[Restart, ...]:
        """The restarts of the release ``version`` (every entry when the version is unknown)."""
        numbers = release(version)
        return tuple(r for r in self.restarts if r.applies(numbers))

    def requires_ca(self, version: str | None) -> bool:
        """The leaf must be CA:TRUE on release ``version`` (unknown version: the newest rule applies)."""
        if not self.ca_required:
            return False
        numbers = release(version)
        return numbers is None or self.ca_required_since is None or _at_least(numbers, self.ca_required_since)

    @property
    def trust_stores(self) -> tuple[str, ...]:
        """Every trust store the CA chain goes to: the purpose's own, then those of ``chain_also_to``."""
        stores = (self.trust_store, *(get(name).trust_store for name in self.chain_also_to))
        return tuple(store for store in stores if store)

    def prechecks_facts(self) -> tuple[Precheck, ...]:
        return tuple(PRECHECKS[name] for name in self.prechecks)


_SERVER = "1.3.6.1.5.5.7.3.1"
_CLIENT = "1.3.6.1.5.5.7.3.2"
_DS, _KE, _DE, _KA, _CS = (
    "digital_signature",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
)
# Key usages a purpose requests in its CSR but does not need on the certificate: Cisco's guide asks the
# CA to keep them (a recommendation), while CUCM accepts certificates without them (Let's Encrypt's
# digitalSignature + keyEncipherment certificates are uploaded to tomcat by public tools). The validator
# warns when one is missing instead of refusing. Sources: docs/CONTRACTS.md "Recommended key usages".
RECOMMENDED_KEY_USAGES: frozenset[str] = frozenset({_DE, _KA})

_TOMCAT_IMPACT = (
    "SAML SSO login fails.",
    "Phones cannot reach HTTPS services hosted on CUCM (corporate directory, etc.).",
    "Web pages of other nodes are unreachable.",
    "Extension Mobility and inter-cluster Extension Mobility fail.",
    "Expressway traversal zone goes down when TLS verify is on.",
    "UCCX: the new root and intermediate must be in UCCX tomcat-trust or Finesse desktop login breaks.",
)
# Restarts (SG14 "Certificate Names and Descriptions"; TAC225746 for UDS and SSOSP Tomcat): each names why.
_SG14 = "SG14 table"
_TOMCAT_SERVES = Restart("Cisco Tomcat", NodeScope.ALL, via="cli",
                         reason="serves the tomcat identity on HTTPS (procedure)")
_TOMCAT_RESTARTS = (
    _TOMCAT_SERVES,
    Restart("Cisco Intercluster Lookup Service", NodeScope.CUCM, since="14",
            reason=f"ILS uses the tomcat certificate for intercluster TLS ({_SG14})"),
    Restart("Cisco Location Bandwidth Manager", NodeScope.CUCM, since="14",
            reason=f"LBM intercluster links use the tomcat certificate ({_SG14})"),
    Restart("Cisco DRF Master", NodeScope.PUBLISHER, since="14", until="14SU2",
            reason=f"DRF uses the tomcat certificate ({_SG14}; from 14SU2 not needed after tomcat RSA)"),
    Restart("Cisco DRF Local", NodeScope.ALL, since="14", until="14SU2",
            reason=f"DRF uses the tomcat certificate ({_SG14}; from 14SU2 not needed after tomcat RSA)"),
    Restart("Cisco Extension Mobility", NodeScope.CUCM, since="14",
            reason=f"Extension Mobility serves phones over HTTPS with it ({_SG14})"),
    Restart("Cisco AXL Tomcat", NodeScope.CUCM, via="cli", since="14",
            reason=f"the separate AXL Tomcat serves the tomcat identity ({_SG14})"),
    Restart("Cisco UDS Tomcat", NodeScope.CUCM, via="cli", since="14",
            reason="the separate UDS Tomcat serves the tomcat identity (TAC225746)"),
    Restart("Cisco SSOSP Tomcat", NodeScope.CUCM, via="cli", since="14",
            reason="the SSO service provider Tomcat serves the tomcat identity (TAC225746)"),
)
_TOMCAT_EC_RESTARTS = (
    Restart("Cisco Tomcat", NodeScope.ALL, via="cli", reason="serves the tomcat-ECDSA identity on HTTPS (procedure)"),
    Restart("Cisco DRF Master", NodeScope.PUBLISHER, since="14",
            reason=f"DRF uses the tomcat-ECDSA certificate ({_SG14}; restated for 14SU2)"),
    Restart("Cisco DRF Local", NodeScope.ALL, since="14",
            reason=f"DRF uses the tomcat-ECDSA certificate ({_SG14}; restated for 14SU2)"),
    Restart("Cisco UDS Tomcat", NodeScope.CUCM, via="cli", since="14",
            reason=f"the UDS Tomcat serves the tomcat-ECDSA identity ({_SG14})"),
    Restart("Cisco AXL Tomcat", NodeScope.CUCM, via="cli", since="14",
            reason=f"the AXL Tomcat serves the tomcat-ECDSA identity ({_SG14})"),
)
_TOMCAT_EC_NOTE = (
    "EC ciphers on Tomcat are disabled by default (HTTPS Ciphers enterprise parameter, Administration Guide "
    "14SU2); the kit cannot read that parameter: enable EC ciphers (then restart Cisco Tomcat on every node) or "
    "no client is ever served tomcat-ECDSA."
)
_CM_IMPACT = (
    "Phone registration problems; encrypted or authenticated phones do not register.",
    "TFTP not trusted: phones reject signed configuration and ITL files.",
    "Secure SIP trunks and media resources (conference bridge, MTP, transcoder) fail.",
    "AXL requests fail.",
)
_CM_RESTARTS = (
    Restart(TVS_SERVICE, NodeScope.CUCM, reason="TVS hands phones the certificates they trust (procedure)"),
    Restart(TFTP_SERVICE, NodeScope.CUCM, reason="TFTP signs the ITL and configuration files (procedure)"),
    Restart("Cisco CallManager", NodeScope.CUCM, reason="serves the CallManager identity to phones (procedure)"),
    Restart("Cisco CTIManager", NodeScope.CUCM, reason="CTI/JTAPI TLS uses the CallManager certificate (procedure)"),
    Restart(HAPROXY, NodeScope.CUCM, since="14",
            reason=f"HAProxy serves SIP OAuth TLS with the CallManager certificate ({_SG14}: 14 and 14SU1 on)"),
)
_PHONE_TRUST_REMINDER = (
    Reminder("phone-trust",
             "phones were counted as registered, which does not prove they trust the new ITL (TAC 117598): "
             "check phones' ITL status (Unified Reporting 'ITL File Status' on 15 [INF], or the phone's "
             "Security Configuration > Trust List) on a sample of models"),
)
_CM_TVS_CAUTION = (
    "Never regenerate CallManager and TVS at the same time: the ITL on every phone would "
    "no longer match and would have to be deleted from each phone by hand. Finish one, "
    "wait until all phones have re-registered, then start the other.",
)
_CM_TVS_PHONES = (
    "**Warning:** **Never regenerate CallManager and TVS at the same time**: the ITL on every phone would no longer "
    "match and would have to be deleted on each phone by hand. The phone gate holds the other purpose until "
    "this step passes.",
)
_TOMCAT_ACTIVATE = (
    "**Warning:** `utils service restart Cisco Tomcat`: **publisher first, then each subscriber one at a time**; each "
    "node's web pages drop while it restarts. The kit then checks the certificate each node now serves over TLS.",
)


def _tomcat(name: str, key_type: str) -> Purpose:
    rsa = key_type == "rsa"
    return Purpose(
        name=name,
        trust_store=f"{name}-trust",
        scope=NodeScope.ALL,
        key_usage=frozenset({_DS, _KE, _DE}) if key_type == "rsa" else frozenset({_DS}),
        extended_key_usage=frozenset({_SERVER, _CLIENT}),
        key_type=key_type,
        multi_server=True,
        restarts=_TOMCAT_RESTARTS if rsa else _TOMCAT_EC_RESTARTS,
        activated_by="Cisco Tomcat",
        verify=(Verify.TLS,) if rsa else (),    # ECDSA: served only to EC-only clients
        prechecks=("sso_disabled",),
        runbook=RunbookFacts("tomcat", 10, variant=not rsa, activate_warnings=_TOMCAT_ACTIVATE),
        risk=Risk.MEDIUM,
        window="after hours",
        impact=_TOMCAT_IMPACT,
        notes=(
            "Disable SAML SSO cluster-wide before regeneration; re-enable it when the whole process is done. "
            "CUCM 14+ with SSO enabled cluster-wide: renew multi-server with SSO on (TAC 217268), then re-export "
            "the SP metadata to the IdP and run the SSO test.",
            "Restart Cisco Tomcat from the CLI: publisher first, then each subscriber one at a time.",
        ) + (() if rsa else (_TOMCAT_EC_NOTE,)),
    )


def _callmanager(name: str, key_type: str) -> Purpose:
    rsa = key_type == "rsa"
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
        auto_phone_reset=True,      # it is the TFTP certificate (SG14 "Phone Interaction on Certificate Update")
        reminders=_PHONE_TRUST_REMINDER,
        conflicts_with=("TVS",),
        runbook=RunbookFacts("callmanager", 40, variant=not rsa, phones_warnings=_CM_TVS_PHONES),
        risk=Risk.HIGH,
        window="after hours",
        impact=_CM_IMPACT,
        notes=_CM_TVS_CAUTION,
    )


# IM&P (cucm-14-15-facts.md "IM&P", IMP125; cucm-interfaces.md 8.2/8.3): cup -> SIP Proxy and Presence Engine,
# cup-xmpp -> Cisco XCP Router on every IM&P node, cup-xmpp-s2s -> XCP XMPP Federation Connection Manager (wildcard
# SANs allowed there only). After a CA chain change the Intercluster Sync Agent is restarted on the IM&P database
# publisher. EC key usages, risk, window and the intercluster sync check's wording are [INF].
_ICSA = Restart("Cisco Intercluster Sync Agent", NodeScope.IMP_PUBLISHER)
_INTERCLUSTER = Reminder(
    "intercluster-sync",
    "where this IM&P cluster has intercluster peers: check that intercluster sync is in sync again "
    "(IM&P Administration > Presence > Inter-Clustering) after the Intercluster Sync Agent restart [INF]")
_IMP_ACTIVATE = (
    "**Warning:** **The IM&P database publisher first, then each other IM&P node one at a time.** After the CA chain "
    "changed, the Cisco Intercluster Sync Agent is restarted on the IM&P database publisher (IM&P configuration "
    "guide).",
)


def _imp(name: str, key_type: str, *, eku: frozenset[str], restarts: tuple[str, ...], activated_by: str,
         impact: tuple[str, ...], notebook: str, order: int, multi_server: bool = False,
         wildcard_san: bool = False, extra: tuple[str, ...] = (), trust_store: str = "") -> Purpose:
    rsa = key_type == "rsa"
    return Purpose(
        name=name,
        trust_store=trust_store or f"{name}-trust",
        scope=NodeScope.IMP,
        key_usage=frozenset({_DS, _KE, _DE, _KA}) if rsa else frozenset({_DS, _KA}),  # EC: [INF]
        extended_key_usage=eku,
        key_type=key_type,
        multi_server=multi_server,
        wildcard_san=wildcard_san,
        restarts=tuple(Restart(service, NodeScope.IMP) for service in restarts) + (_ICSA,),
        restart_order=IMP_PUBLISHER_FIRST,
        activated_by=activated_by,
        runbook=RunbookFacts(notebook, order, variant=not rsa, activate_warnings=_IMP_ACTIVATE + extra),
        reminders=(_INTERCLUSTER,),
        risk=Risk.MEDIUM,
        window="after hours",
        impact=impact,
        notes=("IM&P database publisher first, then the other IM&P nodes one at a time.",),
    )


def _cup(name: str, key_type: str) -> Purpose:
    return _imp(name, key_type, eku=frozenset({_SERVER, _CLIENT, IPSEC_END_SYSTEM_OID}),
                restarts=("Cisco SIP Proxy", "Cisco Presence Engine"), activated_by="Cisco SIP Proxy",
                impact=("SIP federation and presence over TLS (SIP Proxy, Presence Engine) fail [INF].",),
                notebook="cup", order=60)


def _cup_xmpp(name: str, key_type: str) -> Purpose:
    return _imp(name, key_type, eku=frozenset({_SERVER, _CLIENT}), multi_server=True,
                restarts=("Cisco XCP Router",), activated_by="Cisco XCP Router",
                impact=("Jabber and MRA clients cannot log in to IM&P (XMPP over TLS).",
                        "Restarting Cisco XCP Router drops every Jabber session on that node until it is back."),
                notebook="cup-xmpp", order=70,
                extra=("**Warning:** Restarting `Cisco XCP Router` drops the node's Jabber sessions; clients reconnect "
                       "once it is back.",))


def _cup_xmpp_s2s(name: str, key_type: str) -> Purpose:
    # IM&P configuration guide 10.0 ("Security configuration"): s2s trust certificates live in cup-xmpp-trust.
    return _imp(name, key_type, eku=frozenset({_SERVER, _CLIENT}), multi_server=True, wildcard_san=True,
                trust_store=name.replace("-s2s", "") + "-trust",
                restarts=("Cisco XCP XMPP Federation Connection Manager",),
                activated_by="Cisco XCP XMPP Federation Connection Manager",
                impact=("XMPP federation with other domains (server to server) fails.",),
                notebook="cup-xmpp-s2s", order=80)


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
                Restart("Cisco DRF Master", NodeScope.PUBLISHER, reason="DRF uses the ipsec certificate (procedure)"),
                Restart("Cisco DRF Local", NodeScope.ALL, reason="DRF uses the ipsec certificate (procedure)"),
                Restart("IPsec", NodeScope.ALL, via="cli", command="utils ipsec restart",
                        reason=f"reloads IPsec policies with the new certificate ({_SG14})"),
            ),
            activated_by="Cisco DRF Local",
            prechecks=("no_backup",),
            runbook=RunbookFacts("ipsec", 20),
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
            ca_required_since="14SU2",     # CAPF14: CA:TRUE, pathlen 0 for a CA-signed CAPF from 14SU2
            chain_also_to=("CallManager",),  # SG14 "Add Certificate Authority-Signed CAPF Root ... to the Trust Store"
            auto_phone_reset=True,
            restarts=(
                Restart(TVS_SERVICE, NodeScope.CUCM, reason="TVS hands phones the CAPF certificate (procedure)"),
                Restart(TFTP_SERVICE, NodeScope.CUCM, reason="the ITL TFTP serves lists the CAPF certificate (procedure)"),
                Restart("Cisco Certificate Authority Proxy Function", NodeScope.PUBLISHER,
                        reason="serves the CAPF identity (procedure)"),
                Restart(HAPROXY, NodeScope.CUCM, since="14",
                        reason=f"with SIP OAuth on, HAProxy uses the CAPF certificate ({_SG14}); the kit cannot "
                               "read the SIP OAuth mode, so it restarts HAProxy wherever it runs [INF]"),
            ),
            activated_by="Cisco Certificate Authority Proxy Function",
            ctl_update_in_mixed_mode=True,
            resets_phones=True,
            self_signed_elsewhere=NodeScope.CUCM,
            runbook=RunbookFacts("capf", 30),
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
                Restart(TFTP_SERVICE, NodeScope.CUCM, reason="the ITL TFTP serves lists every TVS certificate (procedure)"),
                Restart(TVS_SERVICE, NodeScope.TVS, reason="serves the TVS identity (procedure)"),
            ),
            activated_by=TVS_SERVICE,
            resets_phones=True,
            auto_phone_reset=True,
            reminders=_PHONE_TRUST_REMINDER,
            conflicts_with=("CallManager", "CallManager-ECDSA"),
            runbook=RunbookFacts("tvs", 50, phones_warnings=_CM_TVS_PHONES),
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
            trust_store="",                  # there is no ITLRecovery-trust (SG14)
            scope=NodeScope.PUBLISHER,
            key_usage=frozenset({_DS}),
            extended_key_usage=frozenset({_SERVER, _CLIENT}),
            ca_signed=False,                 # regenerated on the node only (CLI1251 set cert regen)
            regenerate_command="set cert regen ITLRecovery",
            restarts=(
                Restart(TFTP_SERVICE, NodeScope.CUCM, reason="TFTP serves the ITL the ITLRecovery key signs (SG14)"),
                Restart(TVS_SERVICE, NodeScope.TVS, reason="TVS vouches for the new ITL signer (SG14)"),
            ),
            activated_by=TFTP_SERVICE,
            ctl_update_in_mixed_mode=True,
            resets_phones=True,
            reminders=(Reminder("itl-reset",
                                "SG14's ITL steps after an ITLRecovery regeneration: if phones reject the new "
                                "ITL, utils itl reset localkey (and utils ctl reset localkey in mixed mode), "
                                "then reset the phones again"),),
            risk=Risk.HIGH,
            window="after hours",
            impact=("Signs the ITL since 12.0: a botched regeneration breaks ITL and config authentication on phones.",),
            notes=("Not a CA-signed purpose: it is regenerated on the publisher (set cert regen ITLRecovery), "
                   "then the CTL is updated in mixed mode, TFTP and TVS restart and phones are reset (SG14).",),
        ),
        _cup("cup", "rsa"),
        _cup("cup-ECDSA", "ec"),
        _cup_xmpp("cup-xmpp", "rsa"),
        _cup_xmpp("cup-xmpp-ECDSA", "ec"),
        _cup_xmpp_s2s("cup-xmpp-s2s", "rsa"),
        _cup_xmpp_s2s("cup-xmpp-s2s-ECDSA", "ec"),
    )
}


def get(name: str) -> Purpose:
    """The purpose by CUCM name (case-insensitive); ValueError names the valid ones."""
    for key, purpose in PURPOSES.items():
        if key.lower() == name.lower():
            return purpose
    raise ValueError(f"unknown certificate purpose {name!r}; valid: {', '.join(PURPOSES)}")


def names() -> tuple[str, ...]:
    return tuple(PURPOSES)


def register(purpose: Purpose) -> None:
    """Add a purpose to the catalogue; ValueError if its name (any case) is taken."""
    if any(key.lower() == purpose.name.lower() for key in PURPOSES):
        raise ValueError(f"certificate purpose {purpose.name!r} is already in the catalogue")
    PURPOSES[purpose.name] = purpose


@contextmanager
def registered(*purposes: Purpose) -> Iterator[tuple[Purpose, ...]]:
    """The catalogue with ``purposes`` added for the duration of the block (tests, trials)."""
    added: list[str] = []
    try:
        for purpose in purposes:
            register(purpose)
            added.append(purpose.name)
        yield purposes
    finally:
        for name in added:
            PURPOSES.pop(name, None)


def runbooks() -> tuple[Purpose, ...]:
    """The purposes that have their own runbook notebook (variants excluded), in the safe order."""
    own = [p for p in PURPOSES.values() if p.runbook is not None and not p.runbook.variant]
    return tuple(sorted(own, key=lambda p: p.runbook.order if p.runbook else 0))


def runbook_order() -> tuple[str, ...]:
    """The names of ``runbooks()``: renew one at a time in this order."""
    return tuple(p.name for p in runbooks())


def variants(purpose: Purpose) -> tuple[Purpose, ...]:
    """Purposes that run from ``purpose``'s notebook by setting ``purpose = "<name>"`` (the ECDSA ones)."""
    if purpose.runbook is None:
        return ()
    notebook = purpose.runbook.notebook
    return tuple(p for p in PURPOSES.values() if p.runbook is not None and p.runbook.variant
                 and p.runbook.notebook == notebook)


def runbook_for(name: str) -> str:
    """The notebook stem that renews purpose ``name``; ValueError when it has none (e.g. ITLRecovery)."""
    purpose = get(name)
    if purpose.runbook is None:
        have = ", ".join(p.name for p in PURPOSES.values() if p.runbook is not None)
        raise ValueError(f"no runbook for {purpose.name}: no notebook renews it; purposes with a runbook: {have}")
    return purpose.runbook.notebook


def renew_hint(name: str) -> str:
    """How to renew purpose ``name`` with a command that works for it (the inventory's hint); the first
    backticked command is always ``cucmkit run`` (a runbook renews it) or ``cucmkit plan`` (none does)."""
    purpose = get(name)
    if not purpose.ca_signed:
        return (f"{purpose.name}: `cucmkit plan {purpose.name} -f <parameters>` lists the steps; not CA-signed: "
                f"regenerate it on the publisher (`{purpose.regenerate_command}`), then the Security Guide's "
                "ITL/CTL steps")
    if purpose.runbook is None:
        return f"{purpose.name}: no runbook renews it; see `cucmkit plan {purpose.name} -f <parameters>`"
    return f"{purpose.name}: `cucmkit run {purpose.name} -f <parameters> --ticket <change>`"


def units_for(kind: str) -> tuple[str, ...]:
    """The purposes (CUCM units) a node of ``kind`` ("CUCM" or "IM&P") carries, in catalogue order."""
    return tuple(p.name for p in PURPOSES.values() if kind in p.node_kinds)


def activated_by(name: str) -> str:
    """The service whose restart makes a new certificate of purpose ``name`` live ("" if unknown)."""
    try:
        return get(name).activated_by
    except ValueError:
        return ""


def conflict_pairs() -> tuple[tuple[str, str], ...]:
    """Runbook purposes that must never be in flight together, each pair once in runbook order."""
    order = runbook_order()
    pairs = []
    for index, name in enumerate(order):
        for other in order[index + 1:]:
            if other in get(name).conflicts_with or name in get(other).conflicts_with:
                pairs.append((name, other))
    return tuple(pairs)


# The purposes the runbooks renew, in the safe order (CallManager and TVS apart, each behind a phone
# re-registration gate), as built in; ``runbook_order()`` also sees purposes registered later.
RUNBOOK_ORDER: tuple[str, ...] = runbook_order()


@dataclass(frozen=True)
class UploadMessages:
    """The messages CUCM answers a refused upload with.

    The lab cluster answers with these; the validator quotes them so the engineer sees what CUCM
    would have said. ``{...}`` fields are filled per call. Each carries its source (docs/CONTRACTS.md
    1.9); [INF] marks a wording no public source gives (the rule behind it may still be documented).
    """

    # HCS CAA1018 quotes it so; TAC 200641's sibling heading writes it in title case
    ca_not_in_trust: str = "CA certificate is not available in the trust-store"
    no_csr: str = "The file {csr_path} does not exist"                                     # TAC procedure
    no_csr_alt: str = "The file /usr/local/platform/upload/certs//{unit}.der could not be uploaded."  # TAC
    # [INF] wording: built like the SAN answer below (HCS CAA1015 paraphrases "doesn't match")
    key_mismatch: str = "CSR public key and Certificate public key does not match"
    san_mismatch: str = "CSR SAN and Certificate SAN does not match"                       # TAC 200641
    expired: str = "Certificate is expired and cannot be uploaded"                       # [INF] wording
    not_replaced_older: str = (
        "A certificate with the same CN already exists with a newer validity start date; "
        "the uploaded certificate was not stored"                                          # [INF] CUCM is silent here
    )
    wildcard: str = "Wildcard certificates are not supported"     # [INF] wording; rule: Security Guide 15
    key_too_large: str = "Certificate key size exceeds the maximum of 4096 bits"  # [INF] wording; rule: SG15
    bad_format: str = "Invalid certificate format: only PEM or DER encoded certificates are accepted"  # [INF]
    import_ok: str = "Successfully imported certificate for {unit}."                       # CLI reference
    restart_hint: str = "Please restart services related to {unit} for the new certificate to become active."  # CLI ref


MESSAGES = UploadMessages()
