"""Ticket-ready evidence of a notebook run: result record, manifest, secret scan, HTML.

An evidence folder (CONTRACTS §6) is
``evidence/<cluster>/<ticket>/<UTC yyyymmddTHHMMSSZ>-<purpose>/`` holding
``<purpose>.ipynb``, ``<purpose>.html``, ``result.json`` and ``manifest.json``.
``file_evidence(execution, root)`` is the one way to write it: the runner hands
over an ``Execution`` (how the run went, references only) and gets an
``EvidenceFolder`` (path and result record) back. ``verify(folder)`` re-checks
the hashes and scans every file for secrets, naming each one it looked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cucmkit.evidence.journal import Journal, read_journal, who
from cucmkit.evidence.manifest import MANIFEST, verify_manifest, write_manifest
from cucmkit.evidence.record import RESULT, ResultRecord, build_record, read_record, write_record
from cucmkit.evidence.secrets import Finding, SecretSearch, known_secrets, redact, scan_dir, search_for
from cucmkit.evidence.verify import VerifyReport, verify

if TYPE_CHECKING:
    from cucmkit.evidence.filing import EvidenceFolder, Execution, file_evidence

__all__ = [
    "Execution",
    "EvidenceFolder",
    "file_evidence",
    "Journal",
    "read_journal",
    "who",
    "MANIFEST",
    "write_manifest",
    "verify_manifest",
    "RESULT",
    "ResultRecord",
    "build_record",
    "write_record",
    "read_record",
    "Finding",
    "known_secrets",
    "search_for",
    "SecretSearch",
    "redact",
    "scan_dir",
    "VerifyReport",
    "verify",
]


def __getattr__(name: str) -> Any:
    """``file_evidence``, ``Execution``, ``EvidenceFolder`` on first use: the kernel imports this package for its
    journal and must not pay for nbformat and nbconvert."""
    if name in ("file_evidence", "Execution", "EvidenceFolder"):
        from cucmkit.evidence import filing

        return getattr(filing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
