"""CA rotation on the lab: same-CN refused before any change, a partner without the new chain stops it, then the
whole rotation (stage, renew every dependent purpose, verify, retire the old CA) with crash-resume and evidence."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.ca import make_backend
from cucmkit.certs.records import record_from_pem
from cucmkit.cucm import Cluster
from cucmkit.lab import LabCluster, Topology, pki
from cucmkit.lab.control import apply_action
from cucmkit.lab.partner import LabPartner
from cucmkit.lab.starting import OLD_LABEL
from cucmkit.params import load_parameters
from cucmkit.trust.cleanup import read_inventory
from cucmkit.trust.config import PartnerParams
from cucmkit.trust.engine import engine_renewer
from cucmkit.trust.partners import issue_probe
from cucmkit.trust.rotation import Rotation, RotationState, plan_rotation, write_rotation_evidence

CHANGES = ("trust_uploaded", "trust_deleted", "identity_uploaded", "csr_generated", "restart_requested")


@pytest.fixture
def rot_lab(tmp_path: Path) -> Iterator[LabCluster]:
    with LabCluster(tmp_path / "state", topology=Topology(phones=4), ports="ephemeral", speed=0.02) as lab:
        yield lab


def _changes(lab: LabCluster) -> int:
    return len(lab.state.events(kind=CHANGES))


def _rotation(lab: LabCluster, tmp_path: Path, cluster: Cluster, *, partners: tuple[PartnerParams, ...] = (),
              renewer=None) -> Rotation:
    params = cluster.params
    ca = make_backend(params, "lab")
    renew = renewer or engine_renewer(cluster, params, state_dir=tmp_path / "engine", ticket="CHG-ROT", ca=ca)
    return Rotation(cluster=cluster, state_path=tmp_path / "rotation.json", ticket="CHG-ROT",
                    new_chain=lab.ca.chain(), renewer=renew, partners=partners,
                    probe=lambda: issue_probe(ca, node=params.publisher.fqdn, domain=params.publisher.domain))


def test_same_cn_collision_refused_before_any_change(rot_lab: LabCluster, tmp_path: Path) -> None:
    # the new CA keeps the old CA's names with new keys: "Lab Old Root CA" / "Lab Old Issuing CA"
    rot_lab.ca.pair = rot_lab.ca.old                     # roll over from the CA the starting certificates chain to
    apply_action(rot_lab.state, "ca_rollover", {"same_cn": True}, ca=rot_lab.ca, running=True)
    assert pki.common_name(pki.load_cert(rot_lab.ca.root_pem)) == f"{OLD_LABEL} Root CA"
    before = _changes(rot_lab)
    params = load_parameters(rot_lab.write_parameters(tmp_path / "lab.yaml"))
    with Cluster.from_parameters(params) as cluster:
        rotation = _rotation(rot_lab, tmp_path, cluster, renewer=_never)
        state = rotation.run()
    assert state.steps["collisions"].status == "blocked" and state.status == "blocked"
    detail = state.steps["collisions"].detail
    assert "same-CN collision" in detail and f"{OLD_LABEL} Root CA" in detail and "distinct CN" in detail
    assert all(state.steps[s].status == "pending" for s in ("partners", "stage", "renew", "retire"))
    assert _changes(rot_lab) == before


def _never(purpose: str, nodes: tuple[str, ...]) -> tuple[str, str]:
    raise AssertionError(f"nothing may be renewed ({purpose})")


class _Crash(RuntimeError):
    pass


def test_partner_blocks_then_full_rotation_with_crash_resume(rot_lab: LabCluster, tmp_path: Path) -> None:
    old_root = rot_lab.ca.old.root_pem if rot_lab.ca.old else ""
    apply_action(rot_lab.state, "ca_rollover", {"label": "Lab G2"}, ca=rot_lab.ca, running=True)
    new_root = rot_lab.ca.root_pem
    params = load_parameters(rot_lab.write_parameters(tmp_path / "lab.yaml"))
    with LabPartner("expressway", trusted=[old_root]) as partner, Cluster.from_parameters(params) as cluster:
        partners = (PartnerParams(name="expressway", kind="expressway-c", address="127.0.0.1", port=partner.port),)
        before = _changes(rot_lab)
        state = _rotation(rot_lab, tmp_path, cluster, partners=partners, renewer=_never).run()
        assert state.steps["partners"].status == "blocked" and "expressway" in state.steps["partners"].detail
        assert _changes(rot_lab) == before                # nothing staged, nothing issued, nothing uploaded
        partner.trust(new_root)

        done: list[str] = []
        engine = engine_renewer(cluster, params, state_dir=tmp_path / "engine", ticket="CHG-ROT",
                                ca=make_backend(params, "lab"))

        def crashing(purpose: str, nodes: tuple[str, ...]) -> tuple[str, str]:
            if len(done) == 1:
                raise _Crash("the kernel died")
            done.append(purpose)
            return engine(purpose, nodes)

        with pytest.raises(_Crash):
            _rotation(rot_lab, tmp_path, cluster, partners=partners, renewer=crashing).run()
        saved = RotationState.load(tmp_path / "rotation.json")
        assert saved is not None and saved.steps["stage"].status == "done" and saved.steps["renew"].status == "pending"
        uploads = len(saved.uploads)
        assert uploads > 0

        resumed = _rotation(rot_lab, tmp_path, cluster, partners=partners)
        assert [p for p, _ in resumed.plan().renew][0] != done[0]      # the first purpose is not renewed again
        state = resumed.run()
        assert state.status == "done", {k: (v.status, v.detail) for k, v in state.steps.items()}
        assert len(state.uploads) == uploads                            # staging was not repeated
        inventory = read_inventory(cluster, keep=(), now=dt.datetime.now(dt.UTC))
    new_fp = record_from_pem(new_root).fingerprint_sha256
    assert not inventory.named(f"{OLD_LABEL} Root CA") and not inventory.named(f"{OLD_LABEL} Issuing CA")
    assert inventory.get(new_fp).dependents
    first_identity = min(e.seq for e in rot_lab.state.events(kind="identity_uploaded"))
    last_stage = max(e.seq for e in rot_lab.state.events(kind="trust_uploaded"))
    assert last_stage < first_identity                                  # staged before any identity from it
    path = write_rotation_evidence(state, root=tmp_path, stamp="20261127T000000Z")
    body = json.loads(path.read_text())
    assert body["status"] == "done" and body["deletions"] and all(d["outcome"] == "deleted" for d in body["deletions"])
    assert body["partner_checks"][0]["trusted"] is True and "PRIVATE KEY" not in path.read_text()


def test_plan_orders_purposes_as_the_runbooks(rot_lab: LabCluster, tmp_path: Path) -> None:
    apply_action(rot_lab.state, "ca_rollover", {"label": "Lab G2"}, ca=rot_lab.ca, running=True)
    params = load_parameters(rot_lab.write_parameters(tmp_path / "lab.yaml"))
    with Cluster.from_parameters(params) as cluster:
        plan = plan_rotation(read_inventory(cluster, keep=(), now=dt.datetime.now(dt.UTC)), rot_lab.ca.chain())
    purposes = [p for p, _ in plan.renew]
    assert purposes[:3] == ["tomcat", "ipsec", "CallManager"] and not plan.collisions
    assert {e.common_name for e in plan.retire} == {f"{OLD_LABEL} Root CA", f"{OLD_LABEL} Issuing CA"}
    assert pki.common_name(pki.load_cert(plan.new_chain[0])) == "Lab G2 Root CA"
