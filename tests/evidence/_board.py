"""Helpers: small runbook-shaped notebooks whose cells journal what a real runbook journals (no lab needed).

Each notebook writes the events ``cucmkit.notebook.Runbook`` writes (open, certs before, plan, approval,
phases with steps, certs after, end with reminders), so the evidence's first screen has real content; the
run ends DONE, NOTHING DUE, WAITING (approval) or FAILED (a node error in activate).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat

from cucmkit.runner import RunOutcome, RunSpec, run_one

SENTINEL = "SENTINEL-board-41c7e2"
NODES = ("cucm-pub.c1.example", "cucm-sub1.c1.example")


def fingerprint(node: str, when: str) -> str:
    return hashlib.sha256(f"{node}-{when}".encode()).hexdigest()


def cert(node: str, when: str, serial: int) -> dict[str, object]:
    return {"node": node, "purpose": "tomcat", "store": "own", "filename": "tomcat.pem",
            "subject": f"CN={node},OU=Voice,O=Example Corp,L=Zurich,ST=ZH,C=CH", "issuer": "CN=Example Issuing CA 1",
            "serial": str(serial), "not_before": "2026-11-27T16:00:00+00:00",
            "not_after": "2027-11-27T16:00:00+00:00" if when == "after" else "2026-12-20T10:00:00+00:00",
            "fingerprint_sha256": fingerprint(node, when), "self_signed": False, "key_type": "RSA 2048"}


OLD_SERIALS = (0x1A2B3C4D5E6F, 0x77AA01)
NEW_SERIALS = (0x4F00C0FFEE01, 0x4F00C0FFEE02)

_PARAMS = """parameters_file = None
purpose = None
ticket = "LAB-CHANGE"
ca = "lab"
approve = False
dry_run = False
state_dir = None
journal_file = None"""

_OPEN = """from pathlib import Path
from cucmkit.evidence.journal import Journal
from cucmkit.params import load_yaml
from cucmkit.secrets import resolve
journal = Journal(Path(journal_file) if journal_file else None)
password = resolve(load_yaml(Path(parameters_file))["credentials"]["os_admin"]["password"])
journal.write("open", cluster="c1")
journal.write("certs", when="before", certs={before!r})
journal.write("plan", due={due!r}, steps=9)
print("inventory before, plan, pre-checks")"""

_APPROVE = """journal.write("approval", approved=bool(approve), by="op@host", how="parameter approve=True",
              **({"approver": "Jane Doe (CAB)"} if approve else {}))
if not approve:
    from cucmkit.errors import WaitingError
    raise WaitingError("approval required: the next steps change the cluster (tomcat, risk medium); "
                       "stopped before any change")"""

_PHASE = """journal.write("phase-start", phase={name!r})
journal.write("phase-end", phase={name!r}, status="done", steps={steps!r})"""

_FAIL = """journal.write("phase-start", phase="activate")
from cucmkit.errors import CucmError
raise CucmError("Tomcat did not come back within 600 s", node="cucm-sub1.c1.example")"""

_END = """journal.write("certs", when="after", certs={after!r})
journal.write("end", status="done", reminders={reminders!r})"""


def _step(name: str, node: str | None, minute: int) -> dict[str, object]:
    return {"name": name, "node": node, "started": f"2026-11-27T22:{minute:02d}:00.123456+00:00",
            "ended": f"2026-11-27T22:{minute + 1:02d}:30.654321+00:00", "outcome": "done", "detail": ""}


def _cells(mode: str) -> list[str]:
    before = [cert(n, "before", s) for n, s in zip(NODES, OLD_SERIALS, strict=True)]
    after = [cert(n, "after", s) for n, s in zip(NODES, NEW_SERIALS, strict=True)]
    if mode == "nothing-due":
        return [_OPEN.format(before=after, due=False),
                _END.format(after=after, reminders=[])]
    cells = [_OPEN.format(before=before, due=True), _APPROVE,
             _PHASE.format(name="csr", steps=[_step("csr", n, 1) for n in NODES]),
             _PHASE.format(name="install", steps=[_step("install", n, 5) for n in NODES])]
    if mode == "failed":
        return [*cells, _FAIL]
    return [*cells, _PHASE.format(name="activate", steps=[_step("restart Cisco Tomcat", n, 10 + 3 * i)
                                                         for i, n in enumerate(NODES)]),
            _END.format(after=after, reminders=["Re-enable SAML SSO once every node serves the new certificate."])]


def notebook(folder: Path, mode: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(_PARAMS)
    params.metadata["tags"] = ["parameters"]
    steps = [nbformat.v4.new_code_cell(body) for body in _cells(mode)]
    nb.cells = [nbformat.v4.new_markdown_cell("# Renew tomcat"), params, *steps]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "tomcat.ipynb")
    return folder


def run(tmp_path: Path, params: Path, mode: str, *, root: Path | None = None, ticket: str = "CHG-7") -> RunOutcome:
    spec = RunSpec(purpose="tomcat", parameters_file=params, ticket=ticket, approve=mode != "waiting",
                   evidence_root=root or tmp_path / "evidence", notebooks_dir=notebook(tmp_path / f"nb-{mode}", mode),
                   state_dir=str(tmp_path / "state"))
    return run_one(spec)
