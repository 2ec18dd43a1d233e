"""CUCM's own words where a public source gives them (docs/CONTRACTS.md 1.9)."""

from __future__ import annotations

from cucmkit.catalogue import MESSAGES


def test_upload_messages_are_cucms_words_where_a_source_gives_them() -> None:
    """TAC 200641 quotes CUCM's SAN refusal; HCS CAA1018 the missing-CA one; the CLI reference the import answer."""
    assert MESSAGES.san_mismatch == "CSR SAN and Certificate SAN does not match"
    assert MESSAGES.ca_not_in_trust == "CA certificate is not available in the trust-store"
    assert MESSAGES.import_ok.format(unit="tomcat") == "Successfully imported certificate for tomcat."
    assert MESSAGES.no_csr.format(csr_path="/usr/local/platform/.security/tomcat/keys/tomcat.csr") == (
        "The file /usr/local/platform/.security/tomcat/keys/tomcat.csr does not exist")
