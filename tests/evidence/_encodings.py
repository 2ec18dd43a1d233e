"""Every encoding a secret can take in a written file, computed here independently of the kit.

The sentinel tests search each artefact for each of these; the kit's own
``secret_forms`` must cover them all (a test checks that, form by form).
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from xml.sax.saxutils import escape as xml_escape

# every character that has a special meaning in HTML, XML, JSON, URLs or base64
SPECIALS = "&<>\"'%+/= "


def encodings(secret: str, *, user: str = "admin") -> dict[str, str]:
    """name -> the secret as that encoding writes it."""
    raw = secret.encode()
    forms = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "html": html.escape(secret),
        "html-no-quotes": html.escape(secret, quote=False),
        "xml": xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
        "html-in-json": json.dumps(html.escape(secret))[1:-1],
        "url-%20": urllib.parse.quote(secret, safe=""),
        "url-+": urllib.parse.quote_plus(secret),
        "basic-auth": base64.b64encode(f"{user}:{secret}".encode()).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for shift in range(3):   # base64 of the secret inside a longer stream, at each alignment
        forms[f"base64@{shift}"] = base64.b64encode(b"x" * shift + raw + b"yyy").decode()
    return forms


def inner(name: str, encoded: str) -> str:
    """The part of an encoded form that must not survive: base64 in a stream keeps its neighbours' characters."""
    if name.startswith("base64@"):
        shift = int(name[-1])
        return encoded[{0: 0, 1: 2, 2: 3}[shift]:][:8]
    return encoded
