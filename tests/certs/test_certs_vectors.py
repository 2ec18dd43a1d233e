"""Real-world material: every certificate, CSR and PKCS#7 file in cryptography_vectors, without a crash."""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cryptography_vectors
import pytest

from cucmkit.certs import validate
from cucmkit.certs.command import run_check
from cucmkit.certs.intake import load_csr
from cucmkit.errors import CertificateError

from .factory import NOW, good

ROOT = Path(os.path.dirname(cryptography_vectors.__file__))
SUFFIXES = {".pem", ".der", ".crt", ".cer", ".p7b", ".p7c", ".p7", ".csr"}
# Directories of certificate material (keys, CRLs-only and OCSP folders hold nothing a CA returns).
FOLDERS = ("x509", "pkcs7")
SKIP_PARTS = {"ocsp"}


def vector_files() -> list[Path]:
    files = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix.lower() in SUFFIXES and path.is_file() and not SKIP_PARTS & set(path.parts):
                files.append(path)
    return files


def test_enough_vectors_are_found():
    files = vector_files()
    assert len(files) > 500
    assert any(p.suffix == ".p7b" for p in files) and any("requests" in p.parts for p in files)


def test_check_never_crashes_on_any_vector():
    started = time.monotonic()
    codes: dict[int, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about negative serials and the like
        for path in vector_files():
            out, err = io.StringIO(), io.StringIO()
            code = run_check([path], purpose="tomcat", now=datetime(2026, 1, 1, tzinfo=UTC),
                             as_json=True, out=out, err=err)
            codes[code] = codes.get(code, 0) + 1
            if code == 2:
                message = err.getvalue()
                assert message.startswith("cucmkit check: ") and "Traceback" not in message, path
                assert str(path) in message, path
            else:
                assert code in (0, 1), path
                assert json.loads(out.getvalue())["ok"] is (code == 0), path
    assert codes.get(1, 0) > 300 and codes.get(2, 0) > 10  # both outcomes exercised
    assert time.monotonic() - started < 60


def test_every_vector_csr_loads_cleanly_and_can_drive_the_csr_checks():
    bundle = good("tomcat")
    loaded = refused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in vector_files():
            if "requests" not in path.parts:
                continue
            try:
                csr = load_csr(path)
            except CertificateError as exc:
                refused += 1
                assert str(exc).startswith(f"{path}: "), path
                continue
            loaded += 1
            report = validate(bundle.certs(), purpose="tomcat", now=NOW, csr=csr)
            assert report.status_of("csr_key") == "fail", path  # another key than the leaf's
            report.to_text()
    assert loaded > 10 and refused >= 1


@pytest.mark.parametrize("name", ["amazon-roots.p7b", "amazon-roots.der", "isrg.pem"])
def test_real_pkcs7_bundles_are_unpacked(name):
    code = run_check([ROOT / "pkcs7" / name], purpose="tomcat", now=datetime(2026, 1, 1, tzinfo=UTC),
                     out=io.StringIO(), err=io.StringIO())
    assert code == 1  # roots only: no CA-signed leaf for tomcat, but read and reported
