"""The Node/Cluster facade against the lab cluster, over real sockets, TLS and SSH.

Read-only tests use the shared session ``lab``; tests that change certificates,
services or faults use this module's own lab (``own_lab``) so other parts'
tests never see their effects.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.cucm import Cluster
from cucmkit.cucm.store import CliCertStore, RestCertStore, uses_rest
from cucmkit.errors import (
    CliError,
    ConnectError,
    CucmError,
    CucmKitError,
    HttpStatusError,
    TimeoutError_,
    TlsError,
)
from cucmkit.fingerprints import cert_sha256
from cucmkit.lab import LabCluster, Topology
from cucmkit.params import ClusterParams, load_parameters

SENTINEL = "S3ntinel-Pa55-0c7b"


def _cli_only(params: ClusterParams) -> ClusterParams:
    return dataclasses.replace(params, nodes=tuple(dataclasses.replace(n, version="12.5") for n in params.nodes))


def _fast(params: ClusterParams, **timeouts: float) -> ClusterParams:
    return dataclasses.replace(params, timeouts=dataclasses.replace(params.timeouts, **timeouts))


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("nodelab") / "state", topology=Topology(phones=8),
                    ports="ephemeral", speed=0.02) as lab:
        yield lab


@pytest.fixture(scope="module")
def own_params(own_lab: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> ClusterParams:
    return load_parameters(own_lab.write_parameters(tmp_path_factory.mktemp("p") / "lab.yaml"))


@pytest.fixture
def cluster(own_params: ClusterParams) -> Iterator[Cluster]:
    with Cluster.from_parameters(_fast(own_params, connect=2, read=5)) as c:
        yield c


# -- read-only, on the shared lab -----------------------------------------------------------


def test_rest_and_cli_records_identical(lab_params: Path) -> None:
    params = load_parameters(lab_params)
    with Cluster.from_parameters(params) as rest, Cluster.from_parameters(_cli_only(params)) as cli:
        for name in ("cucm-pub", "imp-pub"):
            assert rest.node(name).uses_rest and not cli.node(name).uses_rest
            rest_records = rest.node(name).own_certificates() + rest.node(name).trust_certificates()
            cli_records = cli.node(name).own_certificates() + cli.node(name).trust_certificates()
            assert rest_records and rest_records == cli_records
            assert {r.store for r in rest_records} >= {"own", "tomcat-trust"}
            assert rest.node(name).all_certificates() == rest_records == cli.node(name).all_certificates()
            assert rest.node(name).trust_certificates("tomcat-trust") == \
                cli.node(name).trust_certificates("tomcat-trust")


def test_cluster_facts_from_axl_sso_and_risport(lab_params: Path, lab: LabCluster) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        assert cluster.version() == "14.0.1.13900-155"
        assert cluster.publisher.name == "cucm-pub.lab.example"
        assert cluster.node("cucm-sub1").name == "cucm-sub1.lab.example"
        assert cluster.security_mode() in (0, 1)
        roles = {p.name.split(".")[0]: (p.role, p.kind) for p in cluster.process_nodes()}
        assert roles.get("cucm-pub") == ("publisher", "CUCM")
        assert cluster.sso_enabled() is lab.state.sso_enabled
        by_node = cluster.sso_by_node()
        assert [s.node for s in by_node] == [n.name for n in cluster.nodes]
        assert all(s.enabled is lab.state.sso_enabled and not s.disagree and s.error is None for s in by_node)
        assert all(s.db_mode == (2 if lab.state.sso_enabled else 0) for s in by_node)
        assert cluster.registration().total > 0
        with pytest.raises(KeyError):
            cluster.node("nope")


def test_served_certificate_is_active_tomcat(lab_params: Path, lab: LabCluster) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        served = cluster.publisher.served_certificate()
        own = {r.purpose: r for r in cluster.publisher.own_certificates()}
    assert served.common_name == "cucm-pub.lab.example"
    assert served.node == "cucm-pub.lab.example"
    assert own["tomcat"].common_name == served.common_name


def test_service_status_and_backup(lab_params: Path) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        states = cluster.publisher.service_status(["Cisco CallManager"])
        assert states["Cisco CallManager"].status == "Started"
        assert cluster.publisher.backup_status().in_progress is False


def test_store_is_chosen_once_from_the_version(lab_params: Path) -> None:
    params = load_parameters(lab_params)
    with Cluster.from_parameters(params) as rest, Cluster.from_parameters(_cli_only(params)) as cli:
        assert isinstance(rest.node("cucm-sub1").store, RestCertStore)      # version auto: 14 from AXL
        assert isinstance(cli.node("cucm-sub1").store, CliCertStore)        # version 12.5: the CLI
        assert rest.node("cucm-sub1").store is rest.node("cucm-sub1").store
        assert uses_rest("14.0.1") and uses_rest("15") and not uses_rest("12.5.1") and not uses_rest("")


class _RecordingStore:
    """A CertStore that records what the Node hands it (the seam, without a wire)."""

    interface = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        def call(*args: object, **kw: object) -> list[object]:
            self.calls.append((name, args, kw))
            return []
        return call


def test_node_delegates_every_certificate_method_to_its_store(lab_params: Path) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        node = cluster.node("cucm-sub2")
        fake = _RecordingStore()
        node._store = fake  # type: ignore[assignment]
        node.own_certificates()
        node.trust_certificates("tomcat-trust")
        node.all_certificates()
        node.generate_csr("tomcat", alt_names=["a.example"])
        node.get_csr("tomcat")
        node.upload_trust("tomcat", "PEM", description="d")
        node.upload_identity("tomcat", "PEM")
        node.delete_trust("tomcat-trust", "x.pem")
    assert [c[0] for c in fake.calls] == ["own_certificates", "trust_certificates", "all_certificates",
                                          "generate_csr", "get_csr", "upload_trust", "upload_identity",
                                          "delete_trust"]
    assert fake.calls[3][2] == {"common_name": None, "alt_names": ["a.example"], "key_type": "rsa", "key_size": 2048,
                                "distribution": "this-server"}
    assert fake.calls[5] == ("upload_trust", ("tomcat", "PEM"), {"description": "d"})


# -- mutating, on this module's lab -------------------------------------------------------


def test_tomcat_renewal_roundtrip_rest(cluster: Cluster, own_lab: LabCluster) -> None:
    node = cluster.node("cucm-sub1")
    csr = node.generate_csr("tomcat", alt_names=["cucm-sub1.lab.example"])
    assert node.get_csr("tomcat") == csr
    leaf, chain = own_lab.ca.issue(csr, "tomcat")
    for ca_pem in chain:
        node.upload_trust("tomcat", ca_pem, description="lab CA")
    node.upload_identity("tomcat", leaf)
    wanted = cert_sha256(leaf)
    assert {r.purpose: r.fingerprint_sha256 for r in node.own_certificates()}["tomcat"] == wanted
    assert node.served_certificate().fingerprint_sha256 != wanted       # installed, not active yet
    state = node.restart_service("Cisco Tomcat", timeout=20)
    assert state.started
    assert node.served_certificate().fingerprint_sha256 == wanted
    # the same transport settings trust the new chain through the same CA bundle
    assert node.get_csr("tomcat") is None


def test_csr_and_upload_via_cli(own_params: ClusterParams, own_lab: LabCluster) -> None:
    with Cluster.from_parameters(_cli_only(own_params)) as cli_cluster:
        node = cli_cluster.node("cucm-sub2")
        csr = node.generate_csr("tomcat")
        assert "CERTIFICATE REQUEST" in csr and node.get_csr("tomcat") == csr
        leaf, chain = own_lab.ca.issue(csr, "tomcat")
        for ca_pem in chain:
            node.upload_trust("tomcat", ca_pem)
        node.upload_identity("tomcat", leaf)
        own = {r.purpose: r for r in node.own_certificates()}
        assert own["tomcat"].fingerprint_sha256 == cert_sha256(leaf)
        with pytest.raises(CucmError):
            node.generate_csr("tomcat", distribution="multi-server")


def test_refused_upload_carries_cucm_message(cluster: Cluster, own_lab: LabCluster) -> None:
    node = cluster.node("cucm-sub2")
    csr = node.generate_csr("tomcat")
    leaf, _ = own_lab.ca.issue(csr, "tomcat", extra_sans=["DNS:extra.lab.example"])
    with pytest.raises(HttpStatusError) as info:
        node.upload_identity("tomcat", leaf)
    err = info.value
    assert err.status == 400 and err.node == node.name and err.interface == "certmgr"
    assert err.operation == "upload identity" and err.purpose == "tomcat"
    assert err.message == err.context["cucm_message"] and "HTTP" not in err.message


def test_multi_server_csr_with_ip_refused(cluster: Cluster) -> None:
    with pytest.raises(HttpStatusError) as info:
        cluster.publisher.generate_csr("tomcat", distribution="multi-server", alt_names=["10.0.0.1"])
    assert info.value.status == 400


def test_delete_missing_trust_is_404(cluster: Cluster) -> None:
    with pytest.raises(HttpStatusError) as info:
        cluster.publisher.delete_trust("tomcat-trust", "no-such-cert.pem")
    assert info.value.status == 404


def test_restart_via_control_center_waits_until_started(cluster: Cluster, own_lab: LabCluster) -> None:
    node = cluster.node("cucm-sub1")
    started = time.monotonic()
    state = node.restart_service("Cisco Tftp", timeout=10)
    assert state.started and state.name == "Cisco Tftp"
    assert time.monotonic() - started >= own_lab.state.knobs.delay(own_lab.state.knobs.restart_seconds) * 0.9


def test_restart_deadline_is_timeout(cluster: Cluster, own_lab: LabCluster) -> None:
    own_lab.state.faults.set("cucm-sub1", "slow_restart", 15)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError_) as info:
            cluster.node("cucm-sub1").restart_service("Cisco Tftp", timeout=0.3)
        assert time.monotonic() - started < 3
        assert info.value.node == "cucm-sub1.lab.example" and info.value.operation == "restart service"
    finally:
        own_lab.state.faults.clear("cucm-sub1", "slow_restart")  # the slow restart ends by itself


def test_service_that_fails_to_start(cluster: Cluster, own_lab: LabCluster) -> None:
    own_lab.state.faults.set("cucm-sub2", "service_fail", "Cisco Tftp")
    try:
        with pytest.raises(CucmKitError) as info:
            cluster.node("cucm-sub2").restart_service("Cisco Tftp", timeout=5)
        assert isinstance(info.value, (CucmError, TimeoutError_))
        assert "Cisco Tftp" in str(info.value)
    finally:
        own_lab.state.faults.clear("cucm-sub2", "service_fail")
        cluster.node("cucm-sub2").controlcenter.control("Start", ["Cisco Tftp"])
        _wait_started(cluster, "cucm-sub2", "Cisco Tftp")


def _wait_started(cluster: Cluster, node: str, service: str) -> None:
    deadline = time.monotonic() + 10
    while not cluster.node(node).service_status([service])[service].started:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_tls_fail_fault_is_tls_error(cluster: Cluster, own_lab: LabCluster) -> None:
    own_lab.state.faults.set("imp-pub", "tls_fail")
    try:
        with pytest.raises(TlsError) as info:
            cluster.node("imp-pub").own_certificates()
        assert info.value.node == "imp-pub.lab.example" and info.value.interface == "certmgr"
    finally:
        own_lab.state.faults.clear("imp-pub", "tls_fail")


def test_unreachable_node_is_connect_error_within_deadline(own_params: ClusterParams, own_lab: LabCluster) -> None:
    own_lab.state.faults.set("imp-pub", "unreachable")
    try:
        with Cluster.from_parameters(_fast(own_params, connect=1, read=1)) as cluster:
            started = time.monotonic()
            with pytest.raises(ConnectError) as info:
                cluster.node("imp-pub").own_certificates()
            assert time.monotonic() - started < 4
            assert info.value.node == "imp-pub.lab.example" and info.value.operation
    finally:
        own_lab.state.faults.clear("imp-pub", "unreachable")


def test_pinned_node_and_wrong_pin(own_params: ClusterParams) -> None:
    with Cluster.from_parameters(own_params) as cluster:
        served = cluster.node("imp-pub").served_certificate().fingerprint_sha256
        pub_served = cluster.publisher.served_certificate().fingerprint_sha256
    pinned = dataclasses.replace(own_params, tls=dataclasses.replace(
        own_params.tls, pins={"imp-pub.lab.example": served}))
    with Cluster.from_parameters(pinned) as cluster:
        assert cluster.node("imp-pub").own_certificates()
    stale = dataclasses.replace(pinned, tls=dataclasses.replace(pinned.tls, pins={"imp-pub.lab.example": "00" * 32}))
    with Cluster.from_parameters(stale) as cluster:   # a stale pin, but the chain verifies by the CA: accepted
        assert cluster.node("imp-pub").own_certificates()
    wrong = dataclasses.replace(stale, tls=dataclasses.replace(stale.tls, ca_bundle=(), pins={  # no CA trust at all
        "imp-pub.lab.example": "00" * 32, "cucm-pub.lab.example": pub_served}))   # (AXL asks the publisher)
    with Cluster.from_parameters(wrong) as cluster, pytest.raises(TlsError, match="pin mismatch") as info:
        cluster.node("imp-pub").own_certificates()
    assert served in info.value.message and "tls.ca_bundle" in (info.value.remedy or "")


def test_ctl_update_outside_mixed_mode_is_cli_error(cluster: Cluster, own_lab: LabCluster) -> None:
    if own_lab.state.security_mode != 0:
        pytest.skip("lab is in mixed mode")
    with pytest.raises(CliError):
        cluster.ctl_update()


def test_sentinel_password_never_leaks(own_params: ClusterParams, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CUCMKIT_SENTINEL_PW", SENTINEL)
    path = tmp_path / "sentinel.yaml"
    path.write_text(_sentinel_yaml(own_params))
    params = _fast(load_parameters(path), connect=2, read=5, cli_prompt=5)
    texts: list[str] = [repr(params), str(params)]
    with Cluster.from_parameters(params) as cluster:
        texts.append(repr(cluster))
        for call in (cluster.publisher.own_certificates, cluster.publisher.service_status, cluster.security_mode,
                     cluster.registration, _cli_only_call(params)):
            with pytest.raises(CucmKitError) as info:
                call()
            texts += [str(info.value), repr(info.value), repr(info.value.context), repr(info.value.__cause__)]
        texts += [repr(n) for n in cluster.nodes]
    assert any("authentication failed for admin" in t for t in texts)
    texts.append(caplog.text)
    for t in texts:
        assert SENTINEL not in t


def _cli_only_call(params: ClusterParams):  # type: ignore[no-untyped-def]
    def call() -> object:
        with Cluster.from_parameters(_cli_only(params)) as cli_cluster:
            return cli_cluster.publisher.own_certificates()
    return call


def _sentinel_yaml(params: ClusterParams) -> str:
    import yaml

    data = yaml.safe_load(Path(params.source).read_text())  # type: ignore[arg-type]
    for name in ("os_admin", "app_user"):
        data["credentials"][name]["password"] = {"env": "CUCMKIT_SENTINEL_PW"}
    return yaml.safe_dump(data)
