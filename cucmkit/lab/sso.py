"""SAML SSO status door: ``GET /ssosp/ws/public/singleSignOn`` (no auth, CONTRACTS 1.5)."""

from __future__ import annotations

from cucmkit.lab.http import Handler, LabRequest, LabResponse

__all__ = ["ROUTES", "sso_status"]


def sso_status(request: LabRequest) -> LabResponse:
    if request.method not in ("GET", "HEAD"):
        return LabResponse(405, b"", "text/plain", {"Allow": "GET"})
    enabled = "true" if request.state is not None and request.state.sso_enabled else "false"
    body = f'<Response><SingleSignOn version="1.0"><Status enabled="{enabled}"/></SingleSignOn></Response>'
    return LabResponse(200, body.encode(), "application/xml")


ROUTES: dict[str, Handler] = {"/ssosp/ws/public/singleSignOn": sso_status}
