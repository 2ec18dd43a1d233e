"""Ticket-ready evidence of a notebook run: result record, manifest, secret scan, HTML.

An evidence folder (CONTRACTS §6) is
``evidence/<cluster>/<ticket>/<UTC yyyymmddTHHMMSSZ>-<purpose>/`` holding
``<purpose>.ipynb``, ``<purpose>.html``, ``result.json`` and ``manifest.json``.
``verify(folder)`` re-checks the hashes and scans every file for secrets.
"""

from __future__ import annotations

from cucmkit.evidence.journal import Journal, read_journal, who
from cucmkit.evidence.manifest import MANIFEST, verify_manifest, write_manifest
from cucmkit.evidence.record import RESULT, ResultRecord, build_record, read_record, write_record
from cucmkit.evidence.secrets import Finding, known_secrets, redact, scan_dir
from cucmkit.evidence.verify import VerifyReport, verify

__all__ = [
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
    "redact",
    "scan_dir",
    "VerifyReport",
    "verify",
]
