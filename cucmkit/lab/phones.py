"""Phone registration simulation, lazy by timestamps (no ticking threads).

A phone is registered to one CUCM node and remembers the (CallManager, TVS)
certificate fingerprints of that node as it last saw them. Dropping it
(reset, CallManager restart) sets the time it comes back. When that time has
passed, it re-registers unless BOTH the node's active CallManager and active
TVS certificates differ from what it last saw: then its ITL no longer matches
and it stays UnRegistered (StatusReason 1, unknown: no MIB code names the ITL) until ``delete_itl``.

The doors reach the phones through ``cucmkit.lab.desk.PhoneDesk``.
``CtlFile`` and ``next_ctl`` are the cluster's CTL (Mixed Mode only).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from cucmkit.lab.doors import LabRefusal

__all__ = ["Phone", "PhoneView", "PhoneFleet", "CtlFile", "next_ctl", "CTL_SIGNERS",
           "REASON_REGISTERED", "REASON_RESET", "REASON_ITL"]

# StatusReason codes as CISCO-CCM-MIB numbers unregistration causes (RisPort's use of them is [INF]):
# a reset from CUCM is callManagerReset (9); no code names a distrusted ITL, so those phones say unknown (1).
REASON_REGISTERED = 0
REASON_RESET = 9
REASON_ITL = 1
NEVER = math.inf


@dataclass(frozen=True)
class Phone:
    name: str
    node: str                 # short node name
    device_pool: str
    ip: str
    dn: str
    model: str = "Cisco 8845"
    description: str = ""
    seen_cm: str = ""
    seen_tvs: str = ""
    return_at: float | None = None   # None: registered (or broken); inf: until CallManager runs again
    broken: bool = False
    registered_at: float = 0.0


@dataclass(frozen=True)
class PhoneView:
    """What RisPort reports for one phone now."""

    name: str
    node: str
    device_pool: str
    ip: str
    dn: str
    model: str
    description: str
    status: str          # "Registered" | "UnRegistered"
    reason: int          # 0, 9 (reset: callManagerReset), 1 (ITL mismatch: unknown)
    timestamp: int       # epoch seconds of the last status change


TrustOf = Callable[[str], tuple[str, str]]


class PhoneFleet:
    """All phones of the lab. Not thread-safe by itself: LabState holds the lock."""

    def __init__(self, phones: Iterable[Phone] = (), *, trust_of: TrustOf | None = None) -> None:
        self._phones: dict[str, Phone] = {p.name: p for p in phones}
        self.trust_of: TrustOf = trust_of or (lambda node: ("", ""))
        self.jitter = 0.2

    @classmethod
    def build(cls, count: int, nodes: list[str], *, trust_of: TrustOf, now: float) -> PhoneFleet:
        fleet = cls(trust_of=trust_of)
        for i in range(count):
            node = nodes[i % len(nodes)] if nodes else ""
            cm, tvs = trust_of(node) if node else ("", "")
            name = f"SEP{0x0A1B2C000000 + i:012X}"
            fleet._phones[name] = Phone(
                name=name, node=node, device_pool=f"DP-{node.upper()}", ip=f"10.10.{i // 250}.{i % 250 + 2}",
                dn=str(1000 + i), description=f"Lab phone {i + 1}", seen_cm=cm, seen_tvs=tvs, registered_at=now)
        return fleet

    def __len__(self) -> int:
        return len(self._phones)

    def names(self) -> list[str]:
        return sorted(self._phones)

    def pools(self) -> set[str]:
        return {p.device_pool for p in self._phones.values()}

    # -- transitions (caller holds the state lock, then persists)

    def _delay(self, name: str, delay: float) -> float:
        frac = (zlib.crc32(name.encode()) % 1000) / 1000.0
        return delay * (1.0 + self.jitter * frac)

    def drop(self, names: Iterable[str], *, now: float, delay: float | None) -> int:
        """Unregister ``names``; they return after ``delay`` (+ jitter), or never if delay is None."""
        count = 0
        for name in names:
            phone = self._phones.get(name)
            if phone is None:
                continue
            back = NEVER if delay is None else now + self._delay(name, delay)
            self._phones[name] = replace(phone, return_at=back, registered_at=now)
            count += 1
        return count

    def drop_node(self, node: str, *, now: float, until: float | None, delay: float) -> int:
        """CallManager on ``node`` went down; phones come back ``delay`` after ``until`` (None: never)."""
        names = [p.name for p in self._phones.values() if p.node == node]
        if until is None:
            return self.drop(names, now=now, delay=None)
        return self.drop(names, now=now, delay=max(0.0, until - now) + delay)

    def resume_node(self, node: str, *, at: float, delay: float) -> None:
        """CallManager on ``node`` starts at ``at``: phones waiting forever come back after ``delay``."""
        for phone in list(self._phones.values()):
            if phone.node == node and phone.return_at == NEVER:
                self._phones[phone.name] = replace(phone, return_at=at + self._delay(phone.name, delay))

    def by_pool(self, pool: str) -> list[str]:
        return [p.name for p in self._phones.values() if p.device_pool.lower() == pool.lower()]

    def delete_itl(self, names: Iterable[str], *, now: float | None = None, delay: float = 0.0) -> int:
        """The ITL was deleted on these phones by hand: they trust what their node has now.

        Prefer ``LabState.delete_itl`` (it persists and uses the re-registration knob).
        """
        now = time.time() if now is None else now
        count = 0
        for name in names:
            phone = self._phones.get(name)
            if phone is None:
                continue
            cm, tvs = self.trust_of(phone.node)
            back = now + self._delay(name, delay)
            self._phones[name] = replace(phone, seen_cm=cm, seen_tvs=tvs, broken=False, return_at=back)
            count += 1
        return count

    def settle(self, now: float, *, cm_running: Callable[[str], bool]) -> bool:
        """Apply every re-registration whose time has come; True if anything changed."""
        changed = False
        for phone in list(self._phones.values()):
            if phone.return_at is None or phone.return_at > now or not cm_running(phone.node):
                continue
            cm, tvs = self.trust_of(phone.node)
            if phone.seen_cm != cm and phone.seen_tvs != tvs:
                self._phones[phone.name] = replace(phone, return_at=None, broken=True, registered_at=phone.return_at)
            else:
                self._phones[phone.name] = replace(phone, return_at=None, broken=False, seen_cm=cm,
                                                   seen_tvs=tvs, registered_at=phone.return_at)
            changed = True
        return changed

    # -- views

    def view(self, phone: Phone) -> PhoneView:
        if phone.broken:
            status, reason = "UnRegistered", REASON_ITL
        elif phone.return_at is not None:
            status, reason = "UnRegistered", REASON_RESET
        else:
            status, reason = "Registered", REASON_REGISTERED
        return PhoneView(name=phone.name, node=phone.node, device_pool=phone.device_pool, ip=phone.ip,
                         dn=phone.dn, model=phone.model, description=phone.description, status=status,
                         reason=reason, timestamp=int(phone.registered_at))

    def views(self) -> list[PhoneView]:
        return [self.view(self._phones[n]) for n in sorted(self._phones)]

    def get(self, name: str) -> Phone | None:
        return self._phones.get(name)

    def summary(self) -> dict[str, int]:
        out = {"total": len(self._phones), "registered": 0, "unregistered": 0, "itl_mismatch": 0}
        for view in self.views():
            if view.status == "Registered":
                out["registered"] += 1
            else:
                out["unregistered"] += 1
                out["itl_mismatch"] += bool(self._phones[view.name].broken)
        return out

    # -- persistence

    def to_list(self) -> list[dict[str, Any]]:
        rows = []
        for p in self._phones.values():
            row = dict(p.__dict__)
            if row["return_at"] == NEVER:
                row["return_at"] = "never"
            rows.append(row)
        return rows

    @classmethod
    def from_list(cls, rows: list[dict[str, Any]], *, trust_of: TrustOf) -> PhoneFleet:
        phones = []
        for row in rows:
            if row.get("return_at") == "never":
                row = {**row, "return_at": NEVER}
            phones.append(Phone(**row))
        return cls(phones, trust_of=trust_of)


# ---------------------------------------------------------------- CTL

CTL_SIGNERS = ("CallManager", "ITLRecovery", "CAPF")


@dataclass(frozen=True)
class CtlFile:
    version: int = 1
    signers: tuple[str, ...] = ()
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "signers": list(self.signers), "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CtlFile:
        return cls(int(data["version"]), tuple(data["signers"]), float(data["updated_at"]))


def next_ctl(ctl: CtlFile, *, security_mode: int, fingerprint: Callable[[str], str]) -> CtlFile:
    """The CTL after ``utils ctl update CTLFile``: the publisher's installed certificates, i.e. those that
    will be active after the restart (the CTL is updated before services restart, TAC 217138)."""
    if security_mode != 1:
        raise LabRefusal("This cluster is not in Mixed Mode. CTL update is not allowed", 400)
    return CtlFile(ctl.version + 1, tuple(fingerprint(u) for u in CTL_SIGNERS), time.time())
