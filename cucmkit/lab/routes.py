"""A node's HTTPS doors, by path: certmgr REST, SSO status, Control Center, RisPort70, AXL.

Each door module exports ``ROUTES`` (path -> handler); they are imported here
explicitly (a missing or broken door is an ImportError at start, never a
silently absent door). ``serve_node`` starts one node's HTTPS listener.
"""

from __future__ import annotations

from cucmkit.lab import axl, certmgr, controlcenter, risport, sso
from cucmkit.lab.http import Handler, LabHttpServer, LabRequest
from cucmkit.lab.state import LabNodeState, LabState

__all__ = ["NODE_ROUTES", "node_router", "serve_node"]

NODE_ROUTES: dict[str, Handler] = {**certmgr.ROUTES, **sso.ROUTES, **controlcenter.ROUTES, **risport.ROUTES,
                                   **axl.ROUTES}


def node_router(request: LabRequest) -> Handler | None:
    path = request.path
    if path.lower().startswith("/axl") and request.node is not None and not request.node.is_publisher:
        return None
    for candidate in (path, path.rstrip("/"), path.rstrip("/") + "/"):
        if candidate in NODE_ROUTES:
            return NODE_ROUTES[candidate]
    return None


def serve_node(*, state: LabState, node: LabNodeState, host: str = "127.0.0.1", port: int = 0) -> LabHttpServer:
    """Start the HTTPS listener of ``node``."""
    work = state.state_dir / "run"
    work.mkdir(parents=True, exist_ok=True)
    server = LabHttpServer(host=host, port=port, tls=node.tls_chain, router=node_router, node=node,
                           state=state, work_dir=work)
    return server.start()
