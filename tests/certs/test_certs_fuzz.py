"""Hypothesis at intake: random bytes and random DER mutations never crash or hang; order never changes a verdict."""

from __future__ import annotations

import time
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cucmkit.certs import Material, load_bytes, validate
from cucmkit.errors import CertificateError

from . import hostile
from .factory import NOW, der, good, p7b_der, pem, zip_of
from .test_certs_properties import shaped, verdict

SECONDS = 3.0  # one example, intake and validation, on a loaded box
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes) -> str:
    """Intake then validation of ``data``: "unusable", "ok" or "refused"; anything else raised fails the test."""
    started = time.monotonic()
    try:
        material = load_bytes(data, name="random.bin")
    except CertificateError as exc:
        assert "Traceback" not in str(exc) and str(exc).startswith("random.bin: ") and len(str(exc)) < 1200
        result = "unusable"
    else:
        report = validate(material, purpose="tomcat", now=NOW)
        assert report.to_text() and report.to_json()
        result = "ok" if report.ok else "refused"
    assert time.monotonic() - started < SECONDS
    return result


@cache
def seeds() -> dict[str, bytes]:
    b = good("tomcat")
    return {"der": der(b.leaf), "pem": pem(*b.certs()), "p7b": p7b_der(*b.certs()), "zip": zip_of({"c.pem": pem(*b.certs())})}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(seeds()[draw(st.sampled_from(sorted(seeds())))])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at: at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:  # a DER length byte pointing far away
            data[at] = draw(st.sampled_from([0x81, 0x82, 0x83, 0x84, 0xFF, 0x80]))
        if not data:
            data = bytearray(b"0")
    return bytes(data)


PREFIXES = [b"", b"0", b"0\x82\xff\xff", b"PK\x03\x04", b"PK\x05\x06", b"-----BEGIN CERTIFICATE-----\n",
            b"-----BEGIN PKCS7-----\n", b"\xef\xbb\xbf", b"\xff\xfe", b"MII"]


@_SETTINGS
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=4096))
def test_random_bytes_end_in_a_clean_verdict(prefix: bytes, body: bytes) -> None:
    assert outcome(prefix + body) in ("unusable", "ok", "refused")


@_SETTINGS
@given(data=mutated())
def test_random_der_mutations_end_in_a_clean_verdict(data: bytes) -> None:
    assert outcome(data) in ("unusable", "ok", "refused")


@cache
def hostile_sets() -> dict[str, tuple]:
    b = good("tomcat")
    crl_signer = hostile._leaf(b.intermediates[0], b.int_key, public_key=hostile.rsa_key(2048, 60).public_key(),
                               cn="Lab CRL Signer", ku=("crl_sign",), eku=())
    return {
        "cycle": tuple(hostile._cycle()),
        "deep": tuple(hostile._deep_chain(12)),
        "mesh": (hostile._leaf(hostile._same_name_mesh(2)[1], hostile.rsa_key(2048, 20)), *hostile._same_name_mesh(8)),
        "case": tuple(hostile._case_variant_chain(str.upper)),
        "rollover": tuple(hostile._rollover_chain()),
        "crl-signer": (crl_signer, *b.certs()),
        "md5": (hostile._md5_leaf(), *b.intermediates, b.root),
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["cycle", "deep", "mesh", "case", "rollover", "crl-signer", "md5"]), data=st.data())
def test_hostile_chains_same_verdict_in_any_order_and_files(name: str, data: st.DataObject) -> None:
    certs = hostile_sets()[name]
    baseline = validate(Material.of(certs), purpose="tomcat", now=NOW)
    material = Material()
    for number, blob in enumerate(data.draw(shaped(certs))):
        material = material.merged(load_bytes(blob, name=f"file{number}"))
    assert verdict(validate(material, purpose="tomcat", now=NOW)) == verdict(baseline)


def test_the_hostile_sets_have_the_expected_verdicts() -> None:
    verdicts = {name: validate(Material.of(c), purpose="tomcat", now=NOW).ok for name, c in hostile_sets().items()}
    assert verdicts == {"cycle": False, "deep": False, "mesh": False, "case": True, "rollover": True,
                        "crl-signer": True, "md5": False}
