"""RisPortClient against the lab's RisPort70 door: paging, batching, the rate budget, the throttle."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.risport import RateBudget, RisPortClient
from cucmkit.errors import ThrottledError, TimeoutError_
from cucmkit.secrets import Secret


def _endpoint(lab, name: str):
    return next(e for e in lab.endpoints() if e.name == name or e.fqdn == name)


def _risport(lab, budget: RateBudget, name: str = "cucm-pub", **kw) -> RisPortClient:
    ep = _endpoint(lab, name)
    state = Path(lab.state_dir)
    transport = HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="risport",
                              ca_bundle=(state / "ca-bundle.pem",), username="ccmadmin",
                              password=Secret((state / "secrets" / "app_user").read_text().strip(), source="test"),
                              connect_timeout=3, read_timeout=10)
    return RisPortClient(transport=transport, budget=budget, **kw)


@contextmanager
def knobs(lab, **values):
    old = {name: getattr(lab.state.knobs, name) for name in values}
    for name, value in values.items():
        setattr(lab.state.knobs, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(lab.state.knobs, name, value)


@pytest.fixture()
def quiet_window(lab):
    """The session lab's 60 s window is shared by every test: lift the rate while these tests run."""
    with knobs(lab, risport_rate=100000):
        yield


def _all(lab, budget=None, **kw):
    with _risport(lab, budget or RateBudget(rate=100, window=1.0), **kw) as client:
        return client.registration(), client


def test_summary_counts_every_phone_once(lab, quiet_window) -> None:
    summary, client = _all(lab)
    names = [d.name for d in summary.devices]
    assert summary.total == len(names) == len(set(names)) > 0
    assert summary.registered + summary.unregistered == summary.total
    assert sum(summary.by_node.values()) == summary.registered
    assert all(name.startswith("SEP") for name in names)
    frame = summary.to_frame()
    assert len(frame) == summary.total and set(frame["name"]) == set(names)


def test_server_cap_is_paged_with_stateinfo(lab, quiet_window) -> None:
    full, _ = _all(lab)
    with knobs(lab, risport_cap=7):
        paged, client = _all(lab)
    assert client.requests_sent >= full.total // 7
    assert [d.name for d in paged.devices] == [d.name for d in full.devices]


def test_pipelined_pages_send_no_request_past_the_last_page(lab, quiet_window) -> None:
    # The next page is fetched while the current one is parsed; the chain still ends where StateInfo ends.
    full, _ = _all(lab)
    with knobs(lab, risport_cap=5):
        paged, client = _all(lab, cap=5)
    assert [d.name for d in paged.devices] == [d.name for d in full.devices]
    assert client.requests_sent <= -(-full.total // 5) + 1     # at most one empty closing page
    assert client.throttled == 0


def test_explicit_names_are_batched_under_the_cap(lab, quiet_window) -> None:
    full, _ = _all(lab)
    wanted = [d.name for d in full.devices][:9] + ["SEPDEADBEEF0000"]
    summary, _ = _all(lab, cap=4)
    assert summary.total == full.total
    with _risport(lab, RateBudget(rate=100, window=1.0), cap=4) as client:
        named = client.registration(wanted)
    assert client.requests_sent >= 3
    assert named.total == 10
    assert "SEPDEADBEEF0000" in named.unregistered_names
    assert {d.name for d in named.devices} == set(wanted)


def test_normal_use_never_trips_the_throttle(fresh_lab) -> None:
    # The lab allows 4 requests a minute; the shared budget allows 3. Two clients poll: the budget holds
    # the 4th request back (here until the client's deadline) instead of letting the server throttle it.
    with knobs(fresh_lab, risport_rate=4):
        budget = RateBudget(rate=3, window=60.0)
        first, second = (_risport(fresh_lab, budget, attempts=1, deadline=5.0) for _ in range(2))
        with first, second:
            first.registration()
            second.registration()
            first.registration()
            started = time.monotonic()
            with pytest.raises(TimeoutError_) as caught:
                second.registration()
            assert time.monotonic() - started < 2.5  # refused at once (not after the 5 s deadline): no room before it
            assert first.throttled + second.throttled == 0
            assert first.requests_sent + second.requests_sent == 3
    assert "rate budget" in caught.value.message and caught.value.interface == "risport"
    # and the lab really would have throttled a burst above its rate:
    with knobs(fresh_lab, risport_rate=3):
        with _risport(fresh_lab, RateBudget(rate=100, window=60.0), attempts=1) as greedy:
            with pytest.raises(ThrottledError):
                greedy.registration()


def test_budget_is_one_per_cluster_in_the_process() -> None:
    a = RateBudget.for_cluster("test-cluster-a")
    assert RateBudget.for_cluster("test-cluster-a") is a
    assert RateBudget.for_cluster("test-cluster-b") is not a
    assert (a.rate, a.window, a.margin) == (15, 60.0, 0.25)   # CUCM's own rate; the margin is in time


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_admits_the_full_rate_and_the_next_one_just_past_the_window() -> None:
    clock = _Clock()
    budget = RateBudget(rate=15, window=60.0, clock=clock)
    for _ in range(15):
        assert budget.acquire(deadline=clock.now)       # all 15 at once, none held back
        clock.now += 0.5
    first = 1000.0
    assert budget.wait_time() == pytest.approx(first + 60.0 + 0.25 - clock.now)
    clock.now = first + 60.0                            # the server would admit it now; the kit waits the margin
    assert budget.wait_time() == pytest.approx(0.25)
    assert not budget.acquire(deadline=clock.now + 0.2)
    clock.now = first + 60.25
    assert budget.acquire(deadline=clock.now)
    assert budget.wait_time() == pytest.approx(0.5)                  # the second left 0.5 s after the first


def test_budget_margin_scales_with_a_short_window() -> None:
    assert RateBudget(window=6.0).margin == pytest.approx(0.06)
    assert RateBudget(window=1.0).margin == pytest.approx(0.05)
    assert RateBudget(window=600.0).margin == pytest.approx(0.25)
    assert RateBudget(window=6.0, margin=0.0).margin == 0.0
    with pytest.raises(ValueError):
        RateBudget(window=6.0, margin=-1.0)


def test_forced_throttle_recovers_with_backoff(lab, quiet_window) -> None:
    lab.state.faults.set("cucm-pub", "risport_throttle")
    timer = threading.Timer(0.4, lambda: lab.state.faults.clear("cucm-pub", "risport_throttle"))
    timer.start()
    try:
        summary, client = _all(lab, backoff=0.15, attempts=6)
    finally:
        timer.join()
        lab.state.faults.clear("cucm-pub", "risport_throttle")
    assert client.throttled >= 1 and summary.total > 0


def test_persistent_throttle_ends_in_throttled_error_naming_where(lab, quiet_window) -> None:
    lab.state.faults.set("cucm-pub", "risport_throttle")
    try:
        started = time.monotonic()
        with pytest.raises(ThrottledError) as caught:
            _all(lab, backoff=0.05, attempts=3)
        assert time.monotonic() - started < 10
    finally:
        lab.state.faults.clear("cucm-pub", "risport_throttle")
    error = caught.value
    assert "Exceeded allowed rate for Reatime information" in error.message
    assert (error.node, error.interface, error.operation) == (_endpoint(lab, "cucm-pub").fqdn, "risport", "selectCmDevice")


def test_reset_shows_reason_in_summary(lab, quiet_window) -> None:
    from cucmkit.cucm.axl import AxlClient

    ep = _endpoint(lab, "cucm-pub")
    state = Path(lab.state_dir)
    transport = HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="axl",
                              ca_bundle=(state / "ca-bundle.pem",), username="ccmadmin",
                              password=Secret((state / "secrets" / "app_user").read_text().strip(), source="test"))
    with knobs(lab, reregister_seconds=150.0), AxlClient(transport=transport) as axl:  # back after ~3 s
        axl.reset_all_devices()
        summary, _ = _all(lab)
    assert summary.unregistered == summary.total > 0
    assert dict(summary.by_reason) == {"CallManager reset (callManagerReset)": summary.total}
    assert all(d.status_reason == 9 for d in summary.devices)
    deadline = time.monotonic() + 20  # leave the shared lab as found: every phone registered again
    while time.monotonic() < deadline:
        lab.state.settle()
        if lab.state.phones.summary()["unregistered"] == 0:
            break
        time.sleep(0.1)
