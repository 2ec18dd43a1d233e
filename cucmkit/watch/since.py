"""``--since REPORT.json``: what changed since an earlier watch report (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from cucmkit.watch.model import Diff, Item, Reach, Report, Status

__all__ = ["diff"]


def _flagged(item: Item | None) -> bool:
    return item is not None and item.status is not Status.OK


def _renewed(before: Item | None, now: Item | None) -> bool:
    return (before is not None and now is not None and before.kind == "identity"
            and before.fingerprint_sha256 != now.fingerprint_sha256 and now.not_after > before.not_after)


def _reachable(report: Report) -> Mapping[str, bool]:
    return {c.name: c.reach is Reach.UP for c in report.clusters}


def diff(previous: Report, current: Report) -> Diff:
    """Newly due, renewed, resolved (flagged then, gone or fine now without a renewal), reachability changes.

    Only clusters read now are compared item by item: an unreachable cluster's
    certificates are unknown, not renewed.
    """
    before = {i.key: i for i in previous.items}
    now = {i.key: i for i in current.items}
    seen = {c.name for c in current.clusters if c.reach is not Reach.UNREACHABLE}
    renewed = sorted(k for k in now if _renewed(before.get(k), now[k]))
    newly_due = sorted(k for k, item in now.items() if _flagged(item) and not _flagged(before.get(k)))
    resolved = sorted(k for k, item in before.items() if _flagged(item) and item.cluster in seen
                      and not _flagged(now.get(k)) and k not in renewed)
    was, is_ = _reachable(previous), _reachable(current)
    return Diff(previous_generated_at=previous.generated_at, newly_due=tuple(newly_due), renewed=tuple(renewed),
                resolved=tuple(resolved),
                newly_unreachable=tuple(n for n, up in is_.items() if not up and was.get(n, True)),
                reachable_again=tuple(n for n, up in is_.items() if up and was.get(n) is False))
