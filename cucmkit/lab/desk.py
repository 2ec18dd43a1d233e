"""The doors' phone operations (reset all, a pool, a device; delete ITLs): each holds the cluster's lock, settles
what time has done, records one event and persists."""

from __future__ import annotations

import time
from collections.abc import Iterable

from cucmkit.lab.doors import LabRefusal, current_door
from cucmkit.lab.phones import PhoneView
from cucmkit.lab.store import LabContext

__all__ = ["PhoneDesk"]


class PhoneDesk:
    """The doors' phone operations: each holds the lock, settles, records one event and persists."""

    def __init__(self, ctx: LabContext) -> None:
        self._ctx = ctx

    def _rereg(self) -> float:
        return self._ctx.knobs.delay(self._ctx.knobs.reregister_seconds)

    def _drop(self, names: Iterable[str], scope: str) -> int:
        self._ctx.settle()
        count = self._ctx.phones.drop(names, now=time.time(), delay=self._rereg())
        self._ctx.record("devices_reset", scope=scope, count=count, door=current_door())
        self._ctx.changed()
        return count

    def reset_all_devices(self) -> int:
        with self._ctx.lock:
            return self._drop(self._ctx.phones.names(), "all")

    def reset_device_pool(self, name: str) -> int:
        with self._ctx.lock:
            fleet = self._ctx.phones
            names = fleet.by_pool(name)
            if not names and name.lower() not in {p.lower() for p in fleet.pools()}:
                raise LabRefusal(f"Device pool {name} was not found", 404)
            return self._drop(names, f"pool:{name}")

    def reset_device(self, name: str) -> int:
        with self._ctx.lock:
            if self._ctx.phones.get(name) is None:
                raise LabRefusal(f"Device {name} was not found", 404)
            return self._drop([name], f"device:{name}")

    def delete_itl(self, names: Iterable[str]) -> int:
        with self._ctx.lock:
            names = list(names)
            count = self._ctx.phones.delete_itl(names, now=time.time(), delay=self._rereg())
            self._ctx.record("itl_deleted", scope=",".join(names[:20]), count=count, door=current_door())
            self._ctx.changed()
            return count

    def views(self) -> list[PhoneView]:
        with self._ctx.lock:
            self._ctx.settle()
            return self._ctx.phones.views()

    def summary(self) -> dict[str, int]:
        with self._ctx.lock:
            self._ctx.settle()
            return self._ctx.phones.summary()
