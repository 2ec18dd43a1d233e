"""The lab CA's Microsoft AD CS web-enrolment door (CONTRACTS 1.7) and its HTTPS listener."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from cucmkit.lab import pki
from cucmkit.lab.http import Handler, LabHttpServer, LabRequest, LabResponse
from cucmkit.lab.state import LabState

__all__ = ["ROUTES", "serve_ca", "ca_server_identity"]

_HTML = "text/html; charset=utf-8"


def _page(title: str, body: str, status: int = 200) -> LabResponse:
    text = (f"<html><head><title>Microsoft Active Directory Certificate Services</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return LabResponse(status, text.encode(), _HTML)


def _unauthorized() -> LabResponse:
    return LabResponse(401, b"<html><body><h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1>"
                            b"</body></html>",
                       _HTML, {"WWW-Authenticate": 'Basic realm="ca.lab.example"'})


def _ca(request: LabRequest) -> pki.LabCA:
    return _CA_BY_STATE[id(request.state)]


_CA_BY_STATE: dict[int, pki.LabCA] = {}


def _authorized(request: LabRequest) -> bool:
    return bool(request.auth and request.state and request.state.check_ca_user(*request.auth))


def _guard(handler: Handler) -> Handler:
    def wrapped(request: LabRequest) -> LabResponse:
        if not _authorized(request):
            return _unauthorized()
        return handler(request)
    return wrapped


def home(request: LabRequest) -> LabResponse:
    return _page("Welcome", "<p>Use this Web site to request a certificate for your Web browser, e-mail client, "
                            "or other program.</p>")


def certfnsh(request: LabRequest) -> LabResponse:
    if request.method != "POST":
        return _page("Error", "<p>Method not allowed</p>", 405)
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    template = ""
    for attr in form.get("CertAttrib", "").replace("\r", "\n").split("\n"):
        if attr.strip().startswith("CertificateTemplate:"):
            template = attr.split(":", 1)[1].strip()
    if form.get("Mode") != "newreq" or not form.get("CertRequest"):
        return _page("Certificate Request Denied", "<p>The request is not a new request.</p>", 400)
    if not template:
        return _page("Certificate Request Denied",
                     "<p>The request contains no certificate template information. "
                     "0x80094801 (-2146875391 CERTSRV_E_NO_CERT_TYPE)</p>", 200)
    try:
        req = _ca(request).submit(form["CertRequest"], template)
    except ValueError as exc:
        return _page("Certificate Request Denied", f"<p>{html.escape(str(exc))}</p>")
    if req.status == "issued":
        return _page("Certificate Issued", "<p>The certificate you requested was issued to you.</p>"
                     f'<a href="certnew.cer?ReqID={req.req_id}&amp;Enc=b64">Download certificate</a> '
                     f'<a href="certnew.p7b?ReqID={req.req_id}&amp;Enc=b64">Download certificate chain</a>')
    return _page("Certificate Pending", "<p>Your certificate request has been received. However, you must wait "
                 f"for an administrator to issue the certificate you requested.</p><p>Your Request Id is {req.req_id}.</p>")


def _lookup(request: LabRequest) -> tuple[pki.CaRequest | None, LabResponse | None]:
    req_id = request.arg("ReqID", "")
    if req_id == "CACert":
        return None, None
    try:
        req = _ca(request).request(int(req_id or "x"))
    except ValueError:
        req = None
    if req is None:
        return None, _page("Error", "<p>Cannot find the requested certificate request.</p>", 404)
    if req.status == "pending":
        return req, _page("Certificate Pending", "<p>Your certificate request is still pending.</p>")
    if req.status == "denied":
        return req, _page("Certificate Request Denied", "<p>Your certificate request was denied.</p>")
    return req, None


def _cert_body(pem: str, enc: str | None) -> LabResponse:
    if enc == "bin":
        der = pki.load_cert(pem).public_bytes(serialization.Encoding.DER)
        return LabResponse(200, der, "application/pkix-cert")
    return LabResponse(200, pem.encode(), "application/pkix-cert")


def certnew_cer(request: LabRequest) -> LabResponse:
    req, error = _lookup(request)
    if error is not None:
        return error
    pem = req.leaf_pem if req is not None else _ca(request).intermediate_pem
    return _cert_body(pem or "", request.arg("Enc"))


def certnew_p7b(request: LabRequest) -> LabResponse:
    req, error = _lookup(request)
    if error is not None:
        return error
    ca = _ca(request)
    if req is None:
        certs = [pki.load_cert(p) for p in ca.chain()]
        body = pkcs7.serialize_certificates(certs, serialization.Encoding.PEM)
        return LabResponse(200, body, "application/x-pkcs7-certificates")
    return LabResponse(200, ca.p7b(req.req_id).encode(), "application/x-pkcs7-certificates")


def certcarc(request: LabRequest) -> LabResponse:
    return LabResponse(200, _ca(request).root_pem.encode(), "application/pkix-cert")


ROUTES: dict[str, Handler] = {
    "/certsrv/": _guard(home),
    "/certsrv": _guard(home),
    "/certsrv/certfnsh.asp": _guard(certfnsh),
    "/certsrv/certnew.cer": _guard(certnew_cer),
    "/certsrv/certnew.p7b": _guard(certnew_p7b),
    "/certsrv/certcarc.asp": _guard(certcarc),
}


def _route(request: LabRequest) -> Handler | None:
    return ROUTES.get(request.path)


def ca_server_identity(ca: pki.LabCA, directory: Path, fqdn: str) -> tuple[str, str, list[str]]:
    """The CA web server's own TLS certificate (issued by the current CA), created once."""
    cert_file, key_file = directory / "server.pem", directory / "server_key.pem"
    if not cert_file.exists():
        key = pki.new_key("rsa", 2048)
        pem = pki.sign_with(ca.pair, subject=pki.subject_name(fqdn, ou="PKI"), public_key=key.public_key(),
                            unit="tomcat", sans=(f"DNS:{fqdn}",))
        key_file.touch(mode=0o600)
        key_file.write_text(pki.key_to_pem(key))
        cert_file.write_text(pem)
    return cert_file.read_text(), key_file.read_text(), [ca.intermediate_pem]


def serve_ca(*, ca: pki.LabCA, state: LabState, host: str = "127.0.0.1", port: int = 0) -> LabHttpServer:
    identity = ca_server_identity(ca, state.state_dir / "ca", state.topology.ca_fqdn)
    _CA_BY_STATE[id(state)] = ca
    server = LabHttpServer(host=host, port=port, tls=lambda: identity, router=_route, node=None, state=state,
                           work_dir=state.state_dir / "run")
    return server.start()
