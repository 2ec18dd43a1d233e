"""The shape of a lab cluster: which nodes, their roles and ports."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LAB_VERSION", "NodeSpec", "Topology", "DEFAULT_PORTS", "CA_PORT", "CA_FQDN", "REST_PORT_BASE", "MAX_IMP_SUBSCRIBERS",
           "imp_subscriber_name"]

LAB_VERSION = "14.0.1.13900-155"  # the CUCM release every lab door reports (CONTRACTS 1.4)
CA_PORT = 9443
CA_FQDN_HOST = "ca"
DEFAULT_PORTS: dict[str, tuple[int, int]] = {
    "cucm-pub": (8443, 2222),
    "cucm-sub1": (8444, 2223),
    "cucm-sub2": (8445, 2224),
    "imp-pub": (8446, 2225),
}
# An IM&P cluster has at most 6 nodes (3 subclusters of 2): the IM&P database publisher and 5 others [INF: the
# IM&P deployment guides' cluster size]. Their fixed ports follow imp-pub's: imp-subN on 8446+N / 2225+N.
MAX_IMP_SUBSCRIBERS = 5
DEFAULT_PORTS.update({f"imp-sub{n}": (8446 + n, 2225 + n) for n in range(1, MAX_IMP_SUBSCRIBERS + 1)})
CA_FQDN = "ca.lab.example"
REST_PORT_BASE = 8543   # the lab's stand-in for CUCM's port 443 (same Tomcat, same doors)


@dataclass(frozen=True)
class NodeSpec:
    name: str                 # short host name, e.g. "cucm-pub"
    role: str = "subscriber"  # "publisher" | "subscriber"
    kind: str = "CUCM"        # "CUCM" | "IM&P"
    https_port: int | None = None
    ssh_port: int | None = None
    rest_port: int | None = None   # the second HTTPS port (CUCM: 443 beside 8443); default 8543 + index


def imp_subscriber_name(number: int) -> str:
    """The lab's name of the ``number``-th IM&P subscriber (1-based): ``imp-sub1``, ``imp-sub2``, ..."""
    return f"imp-sub{number}"


def _default_nodes() -> tuple[NodeSpec, ...]:
    return (
        NodeSpec("cucm-pub", "publisher", "CUCM"),
        NodeSpec("cucm-sub1", "subscriber", "CUCM"),
        NodeSpec("cucm-sub2", "subscriber", "CUCM"),
        NodeSpec("imp-pub", "publisher", "IM&P"),
    )


@dataclass(frozen=True)
class Topology:
    """Nodes, domain, phone count. Default: cucm-pub, cucm-sub1, cucm-sub2, imp-pub; 200 phones."""

    nodes: tuple[NodeSpec, ...] = field(default_factory=_default_nodes)
    domain: str = "lab.example"
    phones: int = 200
    cluster: str = "lab"

    def __post_init__(self) -> None:
        cucm_pubs = [n for n in self.nodes if n.kind == "CUCM" and n.role == "publisher"]
        if len(cucm_pubs) != 1:
            raise ValueError("a lab topology needs exactly one CUCM publisher")
        imp_pubs = [n for n in self.nodes if n.kind == "IM&P" and n.role == "publisher"]
        if len(imp_pubs) > 1 or (not imp_pubs and any(n.kind == "IM&P" for n in self.nodes)):
            raise ValueError("a lab topology with IM&P nodes needs exactly one IM&P (database) publisher")
        if len({n.name for n in self.nodes}) != len(self.nodes):
            raise ValueError("node names must be unique")

    @classmethod
    def with_imp_subscribers(cls, count: int, *, phones: int = 200, domain: str = "lab.example",
                             cluster: str = "lab") -> Topology:
        """The default lab (cucm-pub, cucm-sub1, cucm-sub2, imp-pub) plus ``count`` IM&P subscribers
        ``imp-sub1``.. (IM&P kind, subscriber role: imp-pub stays the IM&P database publisher)."""
        if not 0 <= int(count) <= MAX_IMP_SUBSCRIBERS:
            raise ValueError(f"an IM&P cluster has 0 to {MAX_IMP_SUBSCRIBERS} IM&P subscribers besides its "
                             f"publisher (asked for {count})")
        subs = tuple(NodeSpec(imp_subscriber_name(n), "subscriber", "IM&P") for n in range(1, int(count) + 1))
        return cls(nodes=_default_nodes() + subs, phones=phones, domain=domain, cluster=cluster)

    @property
    def publisher(self) -> NodeSpec:
        return next(n for n in self.nodes if n.kind == "CUCM" and n.role == "publisher")

    @property
    def imp_publisher(self) -> NodeSpec | None:
        """The IM&P database publisher (the first IM&P node with role publisher); None without IM&P."""
        return next((n for n in self.nodes if n.kind == "IM&P" and n.role == "publisher"), None)

    def fqdn(self, name: str) -> str:
        return f"{name}.{self.domain}"

    def ports(self, index: int, spec: NodeSpec) -> tuple[int, int]:
        """Fixed default ports: 8443+i / 2222+i unless the spec names its own."""
        https = spec.https_port or DEFAULT_PORTS.get(spec.name, (8443 + index, 0))[0]
        ssh = spec.ssh_port or DEFAULT_PORTS.get(spec.name, (0, 2222 + index))[1]
        return https, ssh

    def rest_port(self, index: int, spec: NodeSpec) -> int:
        """Fixed second HTTPS port: 8543+i unless the spec names its own (443 needs privileges)."""
        return spec.rest_port or REST_PORT_BASE + index

    @property
    def ca_fqdn(self) -> str:
        return f"{CA_FQDN_HOST}.{self.domain}"

    def to_dict(self) -> dict:
        nodes = [{k: v for k, v in n.__dict__.items() if k != "rest_port" or v is not None} for n in self.nodes]
        return {"domain": self.domain, "phones": self.phones, "cluster": self.cluster, "nodes": nodes}

    @classmethod
    def from_dict(cls, data: dict) -> Topology:
        return cls(nodes=tuple(NodeSpec(**n) for n in data["nodes"]), domain=data["domain"],
                   phones=int(data["phones"]), cluster=data.get("cluster", "lab"))
