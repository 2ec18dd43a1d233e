"""cucmkit.certs: certificate intake, chain building, pre-upload validation and records.

    material = load_files(["leaf.cer", "chain.p7b"])
    report = validate(material, purpose="tomcat", now=datetime.now(timezone.utc), csr=csr_pem)
    report.ok, report.to_frame(), report.upload_plan

Pure code: the only I/O is reading the files handed to intake; the clock is a parameter.
Every limit on the work done for hostile input is in ``BUDGETS`` (cucmkit.certs.budgets).
"""

from cucmkit.certs.budgets import BUDGETS, Budgets
from cucmkit.certs.chain import Chain, build_chain
from cucmkit.certs.intake import LoadedCert, Material, load_bytes, load_csr, load_files, load_trust_store
from cucmkit.certs.records import CertRecord, record_from_pem, record_from_show_cert
from cucmkit.certs.report import Check, Report, UploadStep
from cucmkit.certs.validate import NO_PENDING_CSR, validate

__all__ = [
    "BUDGETS",
    "Budgets",
    "CertRecord",
    "record_from_pem",
    "record_from_show_cert",
    "LoadedCert",
    "Material",
    "load_bytes",
    "load_files",
    "load_csr",
    "load_trust_store",
    "Chain",
    "build_chain",
    "Check",
    "Report",
    "UploadStep",
    "validate",
    "NO_PENDING_CSR",
]
