"""The path a multi-server certificate takes per release: the certificate REST API, or blocked before anything
changes when that API does not answer (from 14SU2 the CLI refuses a multi-server upload; before it, the CLI
takes the upload but cannot make the multi-server CSR)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from cucmkit import catalogue
from cucmkit.cucm.node import Cluster
from cucmkit.params import load_parameters
from cucmkit.renewal.uploadpath import check_upload_path

from .conftest import Env

SU1 = "14.0.1.11900-132"       # 14SU1: before the CLI refused multi-server uploads


@pytest.fixture
def release(env: Env) -> Iterator[None]:
    """The lab reports 14SU1 for this test (every door: AXL, Control Center, the CLI)."""
    env.lab.state.knobs.set("cucm_version", SU1)
    try:
        yield
    finally:
        env.lab.state.knobs.set("cucm_version", "")


def _nothing_changed(env: Env) -> None:
    changes = env.lab.state.events(env.since, kind=("csr_generated", "trust_uploaded", "identity_uploaded"))
    assert not [e for e in changes if e.get("door") != "api"], changes


def _rest_unavailable(env: Env, node: str = "cucm-pub") -> None:
    """The parameter file says the node's certificate REST API is not available: its store is the CLI."""
    data = yaml.safe_load(env.params_file.read_text())
    for entry in data["nodes"]:
        if entry["fqdn"].split(".")[0] == node:
            entry["certificate_api"] = "cli"
    env.params_file.write_text(yaml.safe_dump(data, sort_keys=False))
    env.cluster.close()
    env.params = load_parameters(env.params_file)
    env.cluster = Cluster.from_parameters(env.params)


def test_rest_unavailable_on_14su2_or_later_blocks_before_anything_changes(env: Env) -> None:
    _rest_unavailable(env)
    assert not env.cluster.publisher.uses_rest
    with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True) as renewal:
        result = renewal.run()
    assert result.status == "blocked", result
    assert "upload_path" in result.message and "refuses a multi-server upload through the CLI" in result.message
    assert "14.0.1.13900" in result.message and "from 14SU2" in result.message
    _nothing_changed(env)


def test_rest_unavailable_before_14su2_blocks_with_that_releases_reason(env: Env, release: None) -> None:
    _rest_unavailable(env)
    with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True) as renewal:
        result = renewal.run()
    assert result.status == "blocked", result
    assert SU1 in result.message and "would still take a multi-server upload through the CLI" in result.message
    assert "only this-server CSRs" in result.message
    _nothing_changed(env)


def test_multi_server_on_14su1_goes_through_the_rest_api_and_says_so(env: Env, release: None) -> None:
    convert = {"convert_multi_server": "the lab starts per node"}         # renewal/distribution.py
    with env.open("tomcat", nodes=("cucm-sub1",), multi_server=True, overrides=convert) as renewal:
        result = renewal.run()
    assert result.status == "done", result
    state = env.ledger("tomcat").state
    check = check_upload_path(catalogue.get("tomcat"), env.cluster.publisher, multi_server=True)
    assert check.status == "passed" and SU1 in check.reason and "REST API" in check.reason
    assert "through the certificate REST API (certmgr)" in state.steps["csr:cucm-pub.lab.example"].detail
    assert "through the certificate REST API (certmgr)" in state.steps["identity:cucm-pub.lab.example"].detail
    uploads = env.lab.state.events(env.since, kind="identity_uploaded")
    assert [e.get("door") for e in uploads] == ["https"]


def test_a_rest_api_that_stops_answering_is_found_by_the_probe(env: Env) -> None:
    tomcat = catalogue.get("tomcat")
    assert check_upload_path(tomcat, env.cluster.publisher, multi_server=True).status == "passed"
    env.lab.state.faults.set("cucm-pub", "certmgr_down")         # the API answers 404: not running
    result = check_upload_path(tomcat, env.cluster.publisher, multi_server=True)
    assert result.status == "failed" and "REST API does not answer" in result.reason and result.remedy
    assert check_upload_path(tomcat, env.cluster.publisher, multi_server=False).status == "skipped"   # per node


def test_a_per_node_run_on_the_cli_store_renews_and_says_which_path(env: Env) -> None:
    _rest_unavailable(env, "cucm-sub1")
    back = {"convert_multi_server": "an earlier test of this module left the lab multi-server"}
    with env.open("tomcat", nodes=("cucm-sub1",), overrides=back) as renewal:
        result = renewal.run()
    assert result.status == "done", result
    detail = env.ledger("tomcat").state.steps["identity:cucm-sub1.lab.example"].detail
    assert "through the admin CLI" in detail
    uploads = [e for e in env.lab.state.events(env.since, kind="identity_uploaded")
               if e.node == "cucm-sub1.lab.example"]        # other nodes may be due too (test order)
    assert [e.get("door") for e in uploads] == ["cli"]
