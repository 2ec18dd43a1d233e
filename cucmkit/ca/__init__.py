"""CA back-ends behind one small interface, found by kind in a registry (``cucmkit.ca.registry``).

A back-end takes a CSR and, sooner or later, gives back the files the CA
issued (``collect`` returns ``None`` while the CA has not answered). Built in:

- ``manual``: writes each CSR to an outbox folder and reads what a person drops
  into the inbox folder (the run stops cleanly with "waiting for the CA");
- ``adcs``: Microsoft AD CS web enrolment (``/certsrv``), including requests
  left pending for a CA manager's approval;
- ``lab``: the AD CS back-end pointed at the embedded lab CA.

Other packages add theirs through the ``cucmkit.ca_backends`` entry point group
(README, "How to add a CA back-end").
"""

from __future__ import annotations

from cucmkit.ca.registry import BackendSpec, CaBackend, kinds, make_backend

__all__ = ["BackendSpec", "CaBackend", "kinds", "make_backend"]
