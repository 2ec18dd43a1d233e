"""Property tests: reordering, re-encoding or splitting the same material never changes the verdict or the plan."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cucmkit.certs import Material, load_bytes, validate

from .factory import FQDN, NOW, Pki, crlf, der, good, p7b_der, p7b_pem, pem, rsa_key, with_bom, zip_of

SINGLE = ("pem", "pem-crlf", "pem-bom", "der", "p7b-pem", "p7b-der", "zip")
MANY = ("pem", "pem-crlf", "pem-bom", "p7b-pem", "p7b-der", "zip")


@cache
def cases() -> dict[str, tuple]:
    """name -> (certificates, csr, trust store or None)."""
    ok = good("tomcat")
    san = good("tomcat", san=(f"DNS:{FQDN}", "IP:10.0.0.10"), csr_san=(f"DNS:{FQDN}",))
    stray = good("tomcat", pki=Pki(), leaf_key=rsa_key(2048, 9), cn="other.lab.example").leaf
    return {
        "good": (tuple(ok.certs()), ok.csr, None),
        "missing-root": ((ok.leaf, *ok.intermediates), ok.csr, ()),
        "san-mismatch": (tuple(san.certs()), san.csr, None),
        "stray": ((*ok.certs(), stray), ok.csr, None),
        "via-trust-store": ((ok.leaf,), ok.csr, (ok.root, ok.intermediates[0])),
    }


def encode(group: list, fmt: str, members: list[str]) -> bytes:
    if fmt == "pem":
        return pem(*group)
    if fmt == "pem-crlf":
        return b"CA answer\r\n" + crlf(pem(*group)) + b"trailing junk\r\n"
    if fmt == "pem-bom":
        return with_bom(pem(*group))
    if fmt == "der":
        return der(group[0])
    if fmt == "p7b-pem":
        return p7b_pem(*group)
    if fmt == "p7b-der":
        return p7b_der(*group)
    pairs = enumerate(zip(group, members, strict=True))
    return zip_of({f"{i}.{kind}": (der(c) if kind == "der" else pem(c)) for i, (c, kind) in pairs})


@st.composite
def shaped(draw, certs: tuple) -> list[bytes]:
    order = draw(st.permutations(list(certs)))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1)))) if len(order) > 1 else []
    bounds = [0, *cuts, len(order)]
    files = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        group = order[start:end]
        fmt = draw(st.sampled_from(SINGLE if len(group) == 1 else MANY))
        members = draw(st.lists(st.sampled_from(["pem", "der"]), min_size=len(group), max_size=len(group)))
        files.append(encode(group, fmt, members))
    return files


def verdict(report) -> tuple:
    checks = tuple((c.name, c.status, c.message, c.fingerprint) for c in report.checks if c.name != "intake")
    plan = tuple((s.order, s.store, s.kind, s.fingerprint, s.pem) for s in report.upload_plan)
    return report.ok, checks, plan


def check_case(name: str, files: list[bytes]) -> None:
    certs, csr, store = cases()[name]
    baseline = validate(Material.of(certs), purpose="tomcat", now=NOW, csr=csr, trust_store=store)
    material = Material()
    for number, data in enumerate(files):
        material = material.merged(load_bytes(data, name=f"file{number}"))
    report = validate(material, purpose="tomcat", now=NOW, csr=csr, trust_store=store)
    assert verdict(report) == verdict(baseline)


_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(data=st.data())
def test_good_bundle_any_shape(data):
    check_case("good", data.draw(shaped(cases()["good"][0])))


@_SETTINGS
@given(data=st.data())
def test_missing_root_any_shape(data):
    check_case("missing-root", data.draw(shaped(cases()["missing-root"][0])))


@_SETTINGS
@given(data=st.data())
def test_san_mismatch_any_shape(data):
    check_case("san-mismatch", data.draw(shaped(cases()["san-mismatch"][0])))


@_SETTINGS
@given(data=st.data())
def test_stray_any_shape(data):
    check_case("stray", data.draw(shaped(cases()["stray"][0])))


@_SETTINGS
@given(data=st.data())
def test_via_trust_store_any_shape(data):
    certs, _, store = cases()["via-trust-store"]
    check_case("via-trust-store", data.draw(shaped(certs)))
    assert store  # the chain comes from the store here


def test_baselines_differ_so_the_properties_can_fail():
    verdicts = {name: verdict(validate(Material.of(c), purpose="tomcat", now=NOW, csr=csr, trust_store=s))[0]
                for name, (c, csr, s) in cases().items()}
    assert verdicts == {"good": True, "missing-root": False, "san-mismatch": False, "stray": True, "via-trust-store": True}
