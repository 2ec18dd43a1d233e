"""Every limit on the work one ``cucmkit check`` may do, named in one place (docs/check.md lists them).

Whatever a CA, a colleague or an editor hands in is read under these budgets:
input that exceeds one is refused with a message naming the budget, never
read until memory or time runs out. The numbers are far above any real CA
answer (a leaf, two or three CAs, a trust store of a few hundred) and far
below what hurts a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budgets", "BUDGETS", "shorten"]


@dataclass(frozen=True)
class Budgets:
    """The limits; one frozen instance, ``BUDGETS``, is what the kit uses."""

    input_bytes: int = 8 * 1024 * 1024          # bytes actually read from one file (not the size the OS reports)
    expanded_bytes: int = 32 * 1024 * 1024      # total bytes unpacked from ZIP archives in one input
    zip_members: int = 256                      # entries of one ZIP archive (directories included)
    zip_depth: int = 2                          # a ZIP inside a ZIP, no deeper
    certificates: int = 256                     # certificates in one input (a file, with its archive members)
    trust_store_certificates: int = 2048        # certificates in a trust store given with --trust-store
    files: int = 64                             # files given at once (FILE... and a trust-store directory)
    chain_depth: int = 10                       # certificates in one chain, leaf and root included
    issuer_candidates: int = 16                 # certificates of one issuer name tried as a certificate's issuer
    signature_checks: int = 20_000              # signature verifications in one chain search
    message_chars: int = 120                    # a value quoted in a message (a name, a member) is shortened to this
    check_chars: int = 600                      # one check's whole message (a list of SANs, of extensions...)


BUDGETS = Budgets()


def shorten(value: object, limit: int = BUDGETS.message_chars) -> str:
    """``value`` as text for a message, cut to ``limit`` characters with the length kept visible."""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 20, 8)]}... ({len(text)} characters)"
