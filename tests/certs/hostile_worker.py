"""Runs hostile cases through intake + validation under a memory limit and a per-case time limit.

    python tests/certs/hostile_worker.py MANIFEST.json RESULTS.json

MANIFEST: [{"name", "purpose", "files": [path, ...]}]. RESULTS: one outcome per case:
{"name", "kind": "report" | "unusable" | "crash" | "timeout", "seconds", "ok", "checks", "message"}.
Run as a separate process so that RLIMIT_AS bounds only this work.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from types import FrameType

MEMORY_LIMIT = 1536 * 1024 * 1024   # address space of the whole worker, interpreter and OpenSSL included
CASE_SECONDS = 20                    # hard stop for one case (the test asserts a much lower bound)
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout()


def run_case(case: dict) -> dict:
    from cucmkit.certs import load_files, validate
    from cucmkit.errors import CertificateError

    started = time.monotonic()
    outcome: dict = {"name": case["name"]}
    signal.alarm(CASE_SECONDS)
    try:
        report = validate(load_files(case["files"]), purpose=case["purpose"], now=NOW)
        outcome.update(kind="report", ok=report.ok, text=report.to_text(), json=report.to_json(),
                       checks=[[c.name, c.status, c.message, c.subject or "", c.remedy or ""] for c in report.checks])
    except CertificateError as exc:
        outcome.update(kind="unusable", message=str(exc))
    except _Timeout:
        outcome.update(kind="timeout")
    except BaseException as exc:  # noqa: BLE001 - the point is to report anything else as a crash
        outcome.update(kind="crash", message=f"{type(exc).__name__}: {str(exc)[:500]}",
                       traceback=traceback.format_exc()[-3000:])
    finally:
        signal.alarm(0)
    outcome["seconds"] = time.monotonic() - started
    return outcome


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    with open(argv[0], encoding="utf-8") as handle:
        cases = json.load(handle)
    results = [run_case(case) for case in cases]
    with open(argv[1], "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
