"""The catalogue owns every purpose fact: a purpose added in ONE place gets a plan, a notebook and lab support."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cucmkit import catalogue, runner
from cucmkit.catalogue import IMP_PUBLISHER_FIRST, NodeScope, Purpose, Restart, RunbookFacts, Verify
from cucmkit.lab import pki
from cucmkit.lab.pki import LabCA
from cucmkit.lab.starting import ensure_cas
from cucmkit.lab.state import LabRefusal, LabState
from cucmkit.lab.topology import Topology
from cucmkit.renewal.plan import NodeFacts, build_plan

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, tzinfo=UTC)
XCP = "Cisco XCP Router"

# The one place: a test-local catalogue entry (and its ECDSA variant). Nothing else below names it.
WIDGET = Purpose(
    name="lab-widget",
    trust_store="lab-widget-trust",
    scope=NodeScope.IMP,
    key_usage=frozenset({"digital_signature", "key_agreement"}),
    extended_key_usage=frozenset({ExtendedKeyUsageOID.SERVER_AUTH.dotted_string}),
    restarts=(Restart(XCP, NodeScope.IMP),),
    restart_order=IMP_PUBLISHER_FIRST,
    activated_by=XCP,
    verify=(Verify.TLS,),
    prechecks=("no_backup",),
    runbook=RunbookFacts("widget", 95, activate_warnings=("Restart the XCP Router on the IM&P publisher first.",)),
    impact=("Widgets stop.",),
)
WIDGET_EC = Purpose(name="lab-widget-ECDSA", trust_store="lab-widget-ECDSA-trust", scope=NodeScope.IMP,
                    key_usage=frozenset({"digital_signature"}), extended_key_usage=WIDGET.extended_key_usage,
                    key_type="ec", activated_by=XCP, runbook=RunbookFacts("widget", 95, variant=True))


@pytest.fixture
def widget() -> Iterator[Purpose]:
    with catalogue.registered(WIDGET, WIDGET_EC):
        yield WIDGET


def _make_notebooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "scripts" / "make_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ the catalogue itself


def test_registration_is_scoped_and_refuses_a_taken_name(widget: Purpose) -> None:
    assert catalogue.get("LAB-WIDGET") is widget and "lab-widget" in catalogue.units_for("IM&P")
    assert "lab-widget" not in catalogue.units_for("CUCM")
    with pytest.raises(ValueError, match="already in the catalogue"):
        catalogue.register(Purpose(name="Lab-Widget", trust_store="x", scope=NodeScope.ALL,
                                   key_usage=frozenset(), extended_key_usage=frozenset()))


def test_registration_is_undone_after_the_block_even_on_error() -> None:
    with pytest.raises(RuntimeError), catalogue.registered(WIDGET):
        raise RuntimeError("boom")
    with pytest.raises(ValueError, match="unknown certificate purpose"):
        catalogue.get("lab-widget")
    assert catalogue.runbook_order() == catalogue.RUNBOOK_ORDER == ("tomcat", "ipsec", "CAPF", "CallManager", "TVS",
                                                                  "cup", "cup-xmpp", "cup-xmpp-s2s")


def test_scope_rules_are_data() -> None:
    assert NodeScope.IMP.covers(kind="IM&P", role="subscriber") and not NodeScope.IMP.covers(kind="CUCM", role="publisher")
    assert NodeScope.TVS.covers(kind="CUCM", role="subscriber", services=frozenset({catalogue.TVS_SERVICE}))
    assert not NodeScope.TVS.covers(kind="CUCM", role="subscriber")
    assert NodeScope.PUBLISHER.covers(kind="CUCM", role="publisher")
    assert NodeScope.IMP_PUBLISHER.covers(kind="IM&P", role="publisher")
    assert not NodeScope.IMP_PUBLISHER.covers(kind="IM&P", role="subscriber")
    assert not NodeScope.PUBLISHER.covers(kind="IM&P", role="publisher")
    assert all(scope.text for scope in NodeScope)


def test_built_in_runbooks_variants_and_units() -> None:
    assert [p.name for p in catalogue.variants(catalogue.get("tomcat"))] == ["tomcat-ECDSA"]
    assert catalogue.runbook_for("callmanager-ecdsa") == "callmanager"
    assert catalogue.conflict_pairs() == (("CallManager", "TVS"),)
    assert catalogue.units_for("IM&P") == ("tomcat", "tomcat-ECDSA", "ipsec", "cup", "cup-ECDSA", "cup-xmpp",
                                           "cup-xmpp-ECDSA", "cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA")
    assert catalogue.runbook_for("cup-xmpp-s2s-ecdsa") == "cup-xmpp-s2s"
    assert catalogue.get("cup-xmpp-s2s").trust_store == "cup-xmpp-trust"          # IMP10: s2s trust lives there
    assert [p.name for p in catalogue.PURPOSES.values() if p.wildcard_san] == ["cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"]
    assert catalogue.activated_by("cup-xmpp") == XCP and catalogue.activated_by("nothing") == ""
    with pytest.raises(ValueError, match="no runbook for ITLRecovery"):
        catalogue.runbook_for("itlrecovery")


# ------------------------------------------------------------------ plan


NODES = (
    NodeFacts("cucm-pub.lab.example", "cucm-pub", "publisher", "CUCM", frozenset({XCP})),
    NodeFacts("imp-sub.lab.example", "imp-sub", "subscriber", "IM&P", frozenset({XCP})),
    NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", frozenset({XCP})),
    NodeFacts("imp-sub2.lab.example", "imp-sub2", "subscriber", "IM&P", frozenset()),
)


def test_a_registered_purpose_gets_a_plan(widget: Purpose) -> None:
    plan = build_plan(cluster="lab", purpose=widget, nodes=NODES, certificates={}, now=NOW, threshold_days=60)
    assert [n.short for n in plan.renew] == ["imp-sub", "imp-pub", "imp-sub2"]
    assert next(n for n in plan.nodes if n.short == "cucm-pub").action == "out of scope"
    restarts = [s.node for s in plan.steps if s.name == "restart"]
    assert restarts == ["imp-pub.lab.example", "imp-sub.lab.example"]   # IM&P publisher first; not where stopped
    verify = [s.node for s in plan.steps if s.name == "verify-tls"]
    assert verify == ["imp-pub.lab.example", "imp-sub.lab.example", "imp-sub2.lab.example"]
    assert any(s.detail.endswith("lab-widget-trust") for s in plan.steps if s.name == "trust")
    assert plan.steps[-1].key == "reminder:backup" and "phones-reset" not in {s.key for s in plan.steps}


# ------------------------------------------------------------------ notebook and runner


def test_a_registered_purpose_gets_a_notebook(widget: Purpose) -> None:
    make = _make_notebooks()
    books = make.build()
    assert "widget.ipynb" in books
    nb = nbformat.reads(books["widget.ipynb"], as_version=4)  # type: ignore[no-untyped-call]
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'purpose = "lab-widget"' in params[0].source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Holders: every IM&P node" in text and 'purpose = \\"lab-widget-ECDSA\\"' in books["widget.ipynb"]
    assert "`Cisco XCP Router` on every IM&P node" in text and "IM&P publisher first" in text
    assert "No DRS backup" in text and "Widgets stop." in text
    inventory = "\n".join(c.source for c in make.inventory_notebook().cells)
    assert "cup-xmpp-s2s → lab-widget" in inventory
    assert runner.notebook_for("lab-widget-ecdsa", Path("nb")) == Path("nb/widget.ipynb")
    assert runner.purpose_name("LAB-WIDGET") == "lab-widget"


def test_the_generator_forgets_it_afterwards() -> None:
    assert "widget.ipynb" not in _make_notebooks().build()


def test_a_purpose_without_runbook_is_refused_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    assert main(["run", "itlrecovery", "-f", "parameters/lab.yaml", "--ticket", "CHG-1"]) == 2
    err = capsys.readouterr().err
    assert "no runbook for ITLRecovery" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="no runbook for ITLRecovery"):
        runner.purpose_name("ITLRecovery")
    with pytest.raises(ValueError, match="no runbook for ITLRecovery"):
        runner.notebook_for("ITLRecovery")
    assert runner.notebook_for("inventory", Path("nb")) == Path("nb/inventory.ipynb")


# ------------------------------------------------------------------ lab


def _usages(pem: str) -> tuple[set[str], set[str]]:
    cert = pki.load_cert(pem)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    names = {n for n in ("digital_signature", "key_encipherment", "data_encipherment", "key_agreement",
                         "key_cert_sign") if getattr(ku, n)}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    return names, {oid.dotted_string for oid in eku}


def test_a_registered_purpose_gets_lab_support(widget: Purpose, tmp_path: Path) -> None:
    state = LabState.open(tmp_path / "s", topology=Topology(phones=2), speed=0.01)
    old, current = ensure_cas(state.state_dir)
    ca = LabCA(pair=current, old=old, directory=state.state_dir / "ca", knobs=state.knobs)
    imp = state.node("imp-pub")
    assert "lab-widget" in imp.own()                           # the starting state holds it
    with pytest.raises(LabRefusal, match="Invalid certificate type"):
        state.node("cucm-pub").generate_csr("lab-widget")       # not on CUCM nodes
    request = ca.submit(imp.generate_csr("lab-widget"), "CUCM-lab-widget")
    assert request.status == "issued" and request.leaf_pem
    assert _usages(request.leaf_pem) == (set(widget.key_usage), set(widget.extended_key_usage))
    for pem in (ca.root_pem, ca.intermediate_pem):
        assert imp.upload_trust("lab-widget", pem).stored
    assert "Successfully imported" in imp.upload_identity("lab-widget", request.leaf_pem)
    assert imp.own()["lab-widget"].pem == request.leaf_pem
    ec_leaf, _ = ca.issue(imp.generate_csr("lab-widget-ECDSA", key_type="ec", key_length=384), "lab-widget-ECDSA")
    assert _usages(ec_leaf)[0] == {"digital_signature"}


def test_the_lab_ca_refuses_a_template_the_catalogue_does_not_know(tmp_path: Path) -> None:
    old, current = ensure_cas(tmp_path)
    ca = LabCA(pair=current, old=old, directory=tmp_path / "ca")
    csr = pki.make_csr(key=pki.pooled_key("rsa", 2048, 1), cn="x.lab.example")
    with pytest.raises(ValueError, match="CERTSRV_E_UNSUPPORTED_CERT_TYPE"):
        ca.submit(csr, "CUCM-lab-widget")


# ------------------------------------------------------------------ nobody else names a purpose

_READERS = ("cucmkit/renewal/plan.py", "scripts/make_notebooks.py", "cucmkit/lab/pki.py")


@pytest.mark.parametrize("path", _READERS)
def test_readers_name_no_purpose(path: str) -> None:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    words = {w for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             for w in re.findall(r"[A-Za-z][\w-]*", node.value)}
    named = words & set(catalogue.names())
    assert not named, f"{path} names {sorted(named)}: read it from the catalogue"
