"""cucmkit.wiring: the one place parameters -> Cluster -> CA back-end -> Renewal is built."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cucmkit.cucm import Cluster
from cucmkit.params import MaintenanceWindow
from cucmkit.renewal import RenewalOptions
from cucmkit.wiring import DEFAULT_STATE_DIR, open_renewal, state_dir_for


def test_state_dir_is_relative_to_the_parameters_root(env, tmp_path):
    params = replace(env.params, root=tmp_path)
    assert state_dir_for(params) == tmp_path / DEFAULT_STATE_DIR
    assert state_dir_for(params, "runs/state") == tmp_path / "runs" / "state"
    assert state_dir_for(params, tmp_path / "abs") == tmp_path / "abs"


def test_open_renewal_builds_cluster_and_ca_and_options_from_the_parameters(env):
    with open_renewal(env.params, "ipsec", state_dir=env.state_dir, ticket="CHG-W", ca="manual") as renewal:
        assert isinstance(renewal.cluster, Cluster) and renewal.cluster.name == env.params.cluster
        assert renewal.ca_backend is not None and renewal.ca_backend.kind == "manual"
        assert renewal.options == RenewalOptions.from_parameters(env.params)
        assert renewal.ledger.path == env.state_dir / env.params.cluster / "ipsec.json"
    with open_renewal(env.params, "ipsec", state_dir=env.state_dir, ticket="CHG-W", with_ca=False,
                      cluster=env.cluster, options=RenewalOptions(dry_run=True)) as renewal:
        assert renewal.cluster is env.cluster and renewal.ca_backend is None and renewal.options.dry_run
        plan = renewal.plan()                                            # the cluster answers through the port
        assert {n.name for n in plan.nodes} == {n.name for n in env.cluster.nodes}


def test_from_parameters_reads_the_typed_parameters(env):
    timeouts = replace(env.params.timeouts, restart=123.0, registration=456.0)
    start = datetime(2026, 11, 26, 22, tzinfo=UTC)
    params = replace(env.params, timeouts=timeouts, expiry_threshold_days=30,
                     registration=replace(env.params.registration, tolerance=2),
                     maintenance_window=MaintenanceWindow(start=start, end=start + timedelta(hours=6)))
    options = RenewalOptions.from_parameters(params, poll_interval=0.5)
    window = options.maintenance_window
    assert window.contains(start) and not window.contains(start + timedelta(hours=6))
    assert (options.restart_timeout, options.registration_timeout) == (123.0, 456.0)
    assert (options.threshold_days, options.registration_tolerance, options.poll_interval) == (30.0, 2, 0.5)
