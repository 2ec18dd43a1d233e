"""A small, bounded DER reader: enough to say what is wrong with a key cryptography refuses to load.

cryptography raises on an RSA key whose public exponent is 1 or even, or an EC key
on an unnamed curve; the report should name that fault, not "unknown key". This
reads the certificate's SubjectPublicKeyInfo from the TBS bytes by hand. Every
length is checked against the bytes present; nothing recurses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DerError", "Tlv", "read_tlv", "children", "spki_of_tbs", "rsa_numbers", "algorithm_oid", "decode_oid"]

_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    content: bytes
    size: int  # header + content


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """The element starting at ``offset`` (single-byte tags only, definite lengths only)."""
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag, first = data[offset], data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > len(data):
        raise DerError("element longer than the data")
    return Tlv(tag, data[start:start + length], start + length - offset)


def children(content: bytes, limit: int = 64) -> list[Tlv]:
    """The elements inside a constructed element's content (at most ``limit``)."""
    found: list[Tlv] = []
    offset = 0
    while offset < len(content):
        if len(found) >= limit:
            raise DerError("too many elements")
        item = read_tlv(content, offset)
        found.append(item)
        offset += item.size
    return found


def decode_oid(content: bytes) -> str:
    if not content or len(content) > 64:
        raise DerError("bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise DerError("bad object identifier")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def spki_of_tbs(tbs: bytes) -> Tlv:
    """The SubjectPublicKeyInfo element of a TBSCertificate."""
    fields = children(read_tlv(tbs).content)
    index = 6 if fields and fields[0].tag == 0xA0 else 5  # [0] version is optional
    if len(fields) <= index or fields[index].tag != 0x30:
        raise DerError("no SubjectPublicKeyInfo")
    return fields[index]


def algorithm_oid(spki: Tlv) -> str:
    algorithm = children(spki.content)[0]
    return decode_oid(children(algorithm.content)[0].content)


def rsa_numbers(tbs: bytes) -> tuple[int, int] | None:
    """(modulus bits, public exponent) of an RSA key in a TBSCertificate; None for other key types."""
    spki = spki_of_tbs(tbs)
    if algorithm_oid(spki) != _RSA_ENCRYPTION:
        return None
    bits = children(spki.content)[1].content
    if not bits or bits[0] != 0:
        raise DerError("bad key bit string")
    numbers = children(read_tlv(bits[1:]).content)
    if len(numbers) != 2 or numbers[0].tag != 0x02 or numbers[1].tag != 0x02:
        raise DerError("bad RSA public key")
    modulus = int.from_bytes(numbers[0].content, "big")
    return modulus.bit_length(), int.from_bytes(numbers[1].content, "big", signed=True)
