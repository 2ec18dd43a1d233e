"""Hostile and broken parameter files: each is refused with one clear ParameterError, quickly and in bounded memory.

The corpus is generated here from a valid file: byte-level damage (encodings,
size, devices), YAML-level damage (nesting, alias bombs, odd keys, huge
numbers) and value-level damage (non-finite numbers, URLs as addresses,
non-ASCII digits, calendar edges). Then hypothesis throws random bytes, random
YAML and random mappings at the loader: only ParameterError may come out.
"""

from __future__ import annotations

import codecs
import copy
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cucmkit.errors import ParameterError
from cucmkit.params import load_parameters

VALID = """\
cluster: lab
nodes:
  - {fqdn: cucm-pub.lab.example, address: 127.0.0.1, role: publisher, https_port: 8443, ssh_port: 2222}
  - {fqdn: cucm-sub1.lab.example, address: 127.0.0.2, https_port: 8444}
credentials:
  os_admin: {username: admin, password: {env: X_OS}}
  app_user: {username: ccmadmin, password: {env: X_APP}}
timeouts: {connect: 5, read: 30}
maintenance_window: {start: "2026-11-26T22:00:00+00:00", end: "2026-11-27T04:00:00+00:00"}
ca: {backend: adcs, url: "https://ca.example/certsrv/", username: causer, password: {env: X_CA}}
registration: {tolerance: 0, baseline: auto}
"""
DATA: dict[str, Any] = yaml.safe_load(VALID)
MAX_MESSAGE = 600          # characters: messages quote values shortened
SECONDS = 3.0              # per case, generous for a loaded 2-core machine
MEGABYTES = 64             # peak Python allocations per case


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- byte-level and YAML-level corpus

FILES: dict[str, tuple[bytes, str]] = {
    "latin1": (VALID.replace("cluster: lab", "cluster: lab # café").encode("latin-1"), "not UTF-8"),
    "cp1252": (VALID.replace("ccmadmin", "ccm\u2019admin").encode("cp1252"), "not UTF-8"),
    "utf16-le-bom": (codecs.BOM_UTF16_LE + VALID.encode("utf-16-le"), "UTF-16"),
    "utf16-be-bom": (codecs.BOM_UTF16_BE + VALID.encode("utf-16-be"), "UTF-16"),
    "utf16-no-bom": (VALID.encode("utf-16-le"), "UTF-16"),
    "utf32": (VALID.encode("utf-32"), "UTF-16"),
    "binary": (bytes(range(256)) * 4, "UTF-16"),
    "empty": (b"", "is empty"),
    "only-comment": (b"# nothing\n", "is empty"),
    "top-level-list": (b"- a\n- b\n", "must be a mapping"),
    "top-level-scalar": (b"hello\n", "must be a mapping"),
    "deep-flow-list": (b"[" * 20000 + b"]" * 20000, "nested more than"),
    "deep-flow-map": (b"{a: " * 5000 + b"1" + b"}" * 5000, "nested more than"),
    "deep-block-map": ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode(), "nested more than"),
    "list-key": (b"? [a, b]\n: 1\ncluster: lab\n", "is a list or a mapping"),
    "map-key": (b"? {a: 1}\n: 1\n", "is a list or a mapping"),
    "long-int": (VALID.replace("https_port: 8443", "https_port: " + "9" * 5000).encode(), "cannot read"),
    "long-int-key": (("9" * 5000 + ": 1\n").encode(), "not valid YAML"),
    "long-int-value": (("cluster: " + "9" * 5000 + "\n").encode(), "cannot read"),
    "deep-mixed-flow": (b"[{a: " * 100 + b"1" + b"}]" * 100, "nested more than"),
    "alias-bomb": (_bomb().encode(), "expands to more than"),
    "alias-bomb-in-field": ((_bomb() + "cluster: *a8\n").encode(), "expands to more than"),
    "tag-int-empty": (b'cluster: !!int ""\n', "cannot read"),
    "tag-float-empty": (b'cluster: !!float ""\n', "cannot read"),
    "tag-timestamp-garbage": (b"cluster: !!timestamp x\n", "cannot read"),
    "tag-bool-empty": (b'cluster: !!bool ""\n', "cannot read"),
    "tag-map-on-list": (b"cluster: !!map [a]\n", "cannot read"),
    "python-tag": (b"cluster: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "unknown-tag": (b"cluster: !vault |\n  abc\n", "not valid YAML"),
    "duplicate-key": (VALID.replace("cluster: lab", "cluster: lab\ncluster: other").encode(), "duplicate key"),
    "tab-indent": (b"cluster: lab\nnodes:\n\t- x\n", "not valid YAML"),
    "unclosed-quote": (b'cluster: "lab\n', "not valid YAML"),
    "two-documents": (VALID.encode() + b"---\n" + VALID.encode(), "not valid YAML"),
    "oversize": (VALID.encode() + b"#" * (2 * 1024 * 1024), "larger than"),
    "nul-early": (VALID.encode()[:40] + b"\x00" + VALID.encode()[40:], "UTF-16 (or binary)"),
    "nul-late": (VALID.encode() + b"# \x00\n", "not valid YAML"),
    "merge-key-unknown-field": (VALID.replace("nodes:\n", "base: &b {role: publisher}\nnodes:\n").encode(),
                                "base: unknown key"),
}


def _timed(load: Callable[[], object]) -> ParameterError:
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(ParameterError) as info:
            load()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - began < SECONDS
    assert peak < MEGABYTES * 1024 * 1024
    text = str(info.value)
    assert len(text) < MAX_MESSAGE and info.value.remedy and "Traceback" not in text
    return info.value


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(FILES))
def test_hostile_files_refused(name: str, tmp_path: Path) -> None:
    raw, expected = FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(raw)
    error = _timed(lambda: load_parameters(path, root=tmp_path, check_secrets=False))
    assert expected in str(error)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
def test_devices_are_read_within_the_byte_budget(path: str) -> None:
    if not Path(path).exists():
        pytest.skip(f"{path} does not exist here")
    error = _timed(lambda: load_parameters(path, check_secrets=False))
    assert "larger than" in str(error) or "not UTF-8" in str(error) or "UTF-16" in str(error)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    assert "cannot be read" in str(_timed(lambda: load_parameters(tmp_path, check_secrets=False)))
    assert "cannot be read" in str(_timed(lambda: load_parameters(tmp_path / "nope.yaml", check_secrets=False)))


def test_merge_keys_are_supported(tmp_path: Path) -> None:
    text = VALID.replace("nodes:\n  - {fqdn: cucm-pub.lab.example, address: 127.0.0.1, role: publisher, "
                         "https_port: 8443, ssh_port: 2222}\n  - {fqdn: cucm-sub1.lab.example, address: 127.0.0.2, "
                         "https_port: 8444}\n",
                         "nodes:\n  - &pub {fqdn: cucm-pub.lab.example, address: 127.0.0.1, role: publisher, "
                         "https_port: 8443, ssh_port: 2222}\n  - <<: *pub\n    fqdn: cucm-sub1.lab.example\n"
                         "    role: subscriber\n")
    path = tmp_path / "merge.yaml"
    path.write_text(text)
    params = load_parameters(path, root=tmp_path, check_secrets=False)
    sub = params.node("cucm-sub1")
    assert (sub.role, sub.https_port, sub.ssh_port, sub.address) == ("subscriber", 8443, 2222, "127.0.0.1")


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + VALID.encode())
    assert load_parameters(path, root=tmp_path, check_secrets=False).cluster == "lab"


# ---------------------------------------------------------------------------- value-level corpus


def _node(i: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["nodes"][i].update(changes)


def _set(section: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.setdefault(section, {}).update(changes)


def _top(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.update(changes)


BIG = 10 ** 400
VALUES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "connect-inf": (_set("timeouts", connect=float("inf")), "timeouts.connect: must be a finite number"),
    "connect-minus-inf": (_set("timeouts", connect=float("-inf")), "timeouts.connect: must be a finite number"),
    "connect-nan": (_set("timeouts", connect=float("nan")), "timeouts.connect: must be a finite number"),
    "connect-1e308": (_set("timeouts", connect=1e308), "timeouts.connect: must be a positive number"),
    "connect-zero": (_set("timeouts", connect=0), "timeouts.connect: must be a positive number"),
    "connect-bool": (_set("timeouts", connect=True), "timeouts.connect"),
    "connect-text": (_set("timeouts", connect="5"), "timeouts.connect"),
    "connect-huge-int": (_set("timeouts", connect=BIG), "a 1329-bit number"),
    "read-list": (_set("timeouts", read=[1]), "timeouts.read"),
    "restart-negative": (_set("timeouts", restart=-600), "timeouts.restart"),
    "registration-window-inf": (_set("registration", risport_window=float("inf")), "registration.risport_window"),
    "risport-rate-zero": (_set("registration", risport_rate=0), "registration.risport_rate"),
    "baseline-negative": (_set("registration", baseline=-1), "registration.baseline"),
    "baseline-text": (_set("registration", baseline="all"), "registration.baseline"),
    "tolerance-float": (_set("registration", tolerance=0.5), "registration.tolerance"),
    "backoff-nan": (lambda d: d.update(retries={"axl": {"backoff_seconds": float("nan")}}), "retries.axl.backoff_seconds"),
    "attempts-huge": (lambda d: d.update(retries={"risport": {"attempts": BIG}}), "retries.risport.attempts"),
    "port-huge": (_node(0, https_port=BIG), "nodes[0].https_port: must be an integer 1..65535 (got a 1329-bit"),
    "port-float": (_node(0, https_port=8443.0), "nodes[0].https_port"),
    "port-fullwidth": (_node(0, https_port="\uff18\uff14\uff14\uff13"), "nodes[0].https_port"),
    "port-zero": (_node(1, ssh_port=0), "nodes[1].ssh_port"),
    "address-http-url": (_node(0, address="http://10.0.0.1"), "nodes[0].address: 'http://10.0.0.1' is a URL"),
    "address-https-url": (_node(0, address="https://cucm-pub.lab.example:8443/"), "is a URL"),
    "address-cidr": (_node(1, address="10.0.0.0/24"), "nodes[1].address"),
    "address-fullwidth-digits": (_node(0, address="\uff11\uff12\uff17.0.0.1"), "nodes[0].address"),
    "address-arabic-indic": (_node(0, address="\u0661\u0662\u0667.\u0660.\u0660.\u0661"), "nodes[0].address"),
    "address-bad-ip": (_node(0, address="300.1.1.1"), "nodes[0].address"),
    "address-space": (_node(0, address="cucm pub"), "nodes[0].address"),
    "fqdn-kelvin": (_node(0, fqdn="cucm-pub.lab.\u212aexample"), "nodes[0].fqdn"),
    "fqdn-idn": (_node(0, fqdn="cucm-püb.lab.example"), "nodes[0].fqdn"),
    "fqdn-url": (_node(0, fqdn="https://cucm-pub.lab.example"), "nodes[0].fqdn"),
    "fqdn-huge": (_node(0, fqdn="a" * 100_000), "nodes[0].fqdn: is too long"),
    "fqdn-label-too-long": (_node(0, fqdn="a" * 64 + ".lab.example"), "nodes[0].fqdn"),
    "version-arabic": (_node(0, version="\u0661\u0664.\u0660"), "nodes[0].version"),
    "version-superscript": (_node(0, version="14.\u00b2"), "nodes[0].version"),
    "role-list": (_node(0, role=["publisher"]), "nodes[0].role"),
    "kind-unknown": (_node(1, kind="Unity"), "nodes[1].kind"),
    "node-not-mapping": (lambda d: d["nodes"].append("cucm-sub2"), "nodes[2]: must be a mapping"),
    "nodes-mapping": (_top(nodes={"a": 1}), "nodes: must be a non-empty list"),
    "nodes-empty": (_top(nodes=[]), "nodes: must be a non-empty list"),
    "nodes-string": (_top(nodes="cucm-pub"), "nodes: must be a non-empty list"),
    "no-publisher": (_node(0, role="subscriber"), "nodes: needs exactly one CUCM publisher"),
    "nodes-too-many": (lambda d: d["nodes"].extend({"fqdn": f"n{i}.lab.example"} for i in range(20_000)),
                       "nodes: lists 20002 nodes (more than 200)"),
    "duplicate-short-name": (_node(1, fqdn="cucm-pub.other.example"), "listed twice"),
    "cluster-path": (_top(cluster="../../etc"), "cluster"),
    "cluster-huge": (_top(cluster="x" * 10_000_000), "cluster: is too long"),
    "cluster-list": (_top(cluster=["lab"]), "cluster: must be a non-empty string"),
    "cluster-unicode-digits": (_top(cluster="lab\u0661"), "cluster"),
    "threshold-negative": (_top(expiry_threshold_days=-1), "expiry_threshold_days"),
    "threshold-huge": (_top(expiry_threshold_days=10 ** 6), "expiry_threshold_days"),
    "threshold-inf": (_top(expiry_threshold_days=float("inf")), "expiry_threshold_days"),
    "window-year-9999-overflow": (_set("maintenance_window", end="9999-12-31T23:59:59-01:00"),
                                  "maintenance_window.end: is at the edge of the calendar"),
    "window-year-1-underflow": (_set("maintenance_window", start="0001-01-01T00:00:00+01:00"),
                                "maintenance_window.start: is at the edge of the calendar"),
    "window-naive": (_set("maintenance_window", start="2026-11-26T22:00:00"), "maintenance_window.start: has no time zone"),
    "window-arabic-digits": (_set("maintenance_window", start="\u0662\u0660\u0662\u0666-11-26T22:00:00+00:00"),
                             "maintenance_window.start"),
    "window-garbage": (_set("maintenance_window", end="tomorrow"), "maintenance_window.end: 'tomorrow' is not"),
    "window-missing-end": (lambda d: d["maintenance_window"].pop("end"), "maintenance_window.end: is required"),
    "window-list": (_top(maintenance_window=["a", "b"]), "maintenance_window: must be a mapping"),
    "ca-url-http": (_set("ca", url="http://ca.example/certsrv/"), "ca.url: must be an https:// URL"),
    "ca-url-unicode": (_set("ca", url="https://ca.\u212aexample/certsrv/"), "ca.url"),
    "ca-backend-list": (_set("ca", backend=["adcs"]), "ca.backend: must be one of"),
    "ca-backend-huge": (_set("ca", backend="x" * 1_000_000), "ca.backend: must be one of"),
    "ca-password-plain": (_set("ca", password="hunter2"), "ca.password: a plain password is not allowed"),
    "ca-not-mapping": (_top(ca="adcs"), "ca: must be a mapping"),
    "password-two-refs": (lambda d: d["credentials"]["os_admin"].update(password={"env": "A", "file": "b"}),
                          "credentials.os_admin.password: must be exactly one of"),
    "password-list": (lambda d: d["credentials"]["app_user"].update(password=["x"]), "credentials.app_user.password"),
    "password-empty-env": (lambda d: d["credentials"]["app_user"].update(password={"env": ""}),
                           "credentials.app_user.password.env"),
    "username-mapping": (lambda d: d["credentials"]["app_user"].update(username={"a": 1}), "credentials.app_user.username"),
    "credentials-list": (_top(credentials=["admin"]), "credentials: must be a mapping"),
    "pins-bad": (_set("tls", pins={"cucm-pub.lab.example": "zz" * 32}), "tls.pins.cucm-pub.lab.example"),
    "pins-list": (_set("tls", pins=["a"]), "tls.pins"),
    "ca-bundle-mapping": (_set("tls", ca_bundle={"a": 1}), "tls.ca_bundle"),
    "ssh-policy": (_set("ssh", host_key_policy="accept"), "ssh.host_key_policy"),
    "ssh-pin-short": (_node(0, ssh_host_key_sha256="SHA256:short"), "nodes[0].ssh_host_key_sha256"),
    "unknown-top-key-huge": (lambda d: d.update({"k" * 100_000: 1}), "unknown key"),
    "unknown-top-key-int": (lambda d: d.update({5: 1}), "unknown key"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(VALUES))
def test_hostile_values_refused(name: str, tmp_path: Path) -> None:
    edit, expected = VALUES[name]
    data = copy.deepcopy(DATA)
    edit(data)
    error = _timed(lambda: load_parameters(data, root=tmp_path, check_secrets=False))
    assert expected in str(error), str(error)


def test_the_valid_file_loads(tmp_path: Path) -> None:
    params = load_parameters(copy.deepcopy(DATA), root=tmp_path, check_secrets=False)
    assert params.publisher.address == "127.0.0.1" and params.ca.backend == "adcs"


def test_corpus_size() -> None:
    assert len(FILES) + len(VALUES) >= 100


# ---------------------------------------------------------------------------- properties

_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.sampled_from(["auto", "publisher", "CUCM", "IM&P", "adcs", "manual", "lab", "https://ca/x",
                                     "2026-11-26T22:00:00+00:00", "127.0.0.1", "cucm-pub.lab.example"]))
_TREES = st.recursive(_LEAVES, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(sorted({*DATA, "fqdn", "address", "env", "file", "backend", "start",
                                                       "end", "connect", "password", "username"})),
                              st.text(max_size=8)), kids, max_size=5)), max_leaves=30)


def _mutated(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data[key] = value
    return data


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(DATA)), value=_TREES)
def test_random_sections_only_parameter_errors(key: str, value: Any) -> None:
    try:
        load_parameters(_mutated(DATA, key, value), root=Path("/tmp"), check_secrets=False)
    except ParameterError as exc:
        assert len(str(exc)) < MAX_MESSAGE


@settings(max_examples=150, deadline=2000)
@given(raw=st.binary(max_size=400))
def test_random_bytes_only_parameter_errors(raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.getbasetemp() / "random.yaml"
    path.write_bytes(raw)
    try:
        load_parameters(path, root=Path("/tmp"), check_secrets=False)
    except ParameterError as exc:
        assert len(str(exc)) < MAX_MESSAGE


_YAML_BITS = st.sampled_from(["cluster: lab\n", "nodes:\n", "  - ", "{", "}", "[", "]", "&a ", "*a", "<<: ", "? ",
                              ": ", "- ", "!!str ", "!!int ", "!!binary ", "'", '"', "#", "\n", "  ", "fqdn: x.y\n",
                              "1e999", ".nan", "0x1f", "0o7", "1_000", "~", "null", "true", "---\n", "...\n", "%YAML 1.1\n"])


@settings(max_examples=200, deadline=2000)
@given(parts=st.lists(_YAML_BITS, max_size=40))
def test_random_yaml_only_parameter_errors(parts: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.getbasetemp() / "random-yaml.yaml"
    path.write_text(VALID + "".join(parts))
    try:
        load_parameters(path, root=Path("/tmp"), check_secrets=False)
    except ParameterError as exc:
        assert len(str(exc)) < MAX_MESSAGE


# ---------------------------------------------------------------------------- command lines


@pytest.mark.parametrize("argv", [
    ["inventory", "-f", "{bad}"],
    ["plan", "tomcat", "-f", "{bad}"],
    ["renew", "tomcat", "-f", "{bad}", "--ticket", "CHG-1"],
    ["trust", "fetch", "-f", "{bad}"],
    ["params", "check", "-f", "{bad}"],
])
def test_a_refused_parameter_file_exits_1_everywhere(argv: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(codecs.BOM_UTF16_LE + VALID.encode("utf-16-le"))
    assert main([a.format(bad=bad) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "UTF-16" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["inventory", "-f", "x.yaml", "--threshold", "-1"],
    ["inventory", "-f", "x.yaml", "--threshold", "\u0661\u0662"],
    ["check", "--purpose", "tomcat", "--expiry-warning-days", "-5", "x.pem"],
    ["check", "--purpose", "tomcat", "--expiry-warning-days", "99999999999", "x.pem"],
])
def test_negative_or_odd_days_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "days" in capsys.readouterr().err.split("error:")[-1]


_NESTED = st.sampled_from([("nodes", 0), ("nodes", 1), ("credentials", "os_admin"), ("ca",), ("timeouts",),
                           ("registration",), ("maintenance_window",)])
_NESTED_KEYS = st.sampled_from(["fqdn", "address", "role", "kind", "version", "https_port", "ssh_port", "os_admin",
                                "ssh_host_key_sha256", "username", "password", "backend", "url", "connect", "read",
                                "tolerance", "baseline", "start", "end", "outbox", "ca_bundle"])


@settings(max_examples=200, deadline=2000)
@given(where=_NESTED, key=_NESTED_KEYS, value=_TREES)
def test_random_nested_values_only_parameter_errors(where: tuple[Any, ...], key: str, value: Any) -> None:
    data = copy.deepcopy(DATA)
    section: Any = data
    for part in where:
        section = section[part]
    section[key] = value
    try:
        load_parameters(data, root=Path("/tmp"), check_secrets=False)
    except ParameterError as exc:
        assert len(str(exc)) < MAX_MESSAGE
