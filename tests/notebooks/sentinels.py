"""Search artefacts for a secret in every encoding (the encodings are computed in tests/evidence/_encodings.py)."""

from __future__ import annotations

from pathlib import Path

from evidence._encodings import encodings, inner  # tests/ is on sys.path (rootdir-relative test packages)

__all__ = ["assert_no_encoding"]


def assert_no_encoding(secrets: list[str], *, folder: Path, texts: tuple[str, ...] = ()) -> None:
    """No secret, in any encoding (raw, JSON, HTML, XML, URL, base64 at 3 alignments, Basic auth, hex), in any
    file under ``folder`` nor in ``texts``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, "no artefact to check"
    contents = [(p.name, p.read_bytes().decode("utf-8", errors="replace")) for p in files]
    contents += [(f"output {i}", t) for i, t in enumerate(texts)]
    for secret in secrets:
        for name, encoded in encodings(secret).items():
            needle = inner(name, encoded)
            for where, text in contents:
                assert needle not in text, f"a secret ({name}) in {where}"
