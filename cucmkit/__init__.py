"""cucmkit: renew the CA-signed certificates of Cisco Unified CM clusters.

The public API is small: load a parameter file (``cucmkit.params``), build a
``Cluster`` (``cucmkit.cucm``), validate what the CA returned
(``cucmkit.certs``), and run a ``Renewal`` (``cucmkit.renewal``). The lab
cluster that stands in for CUCM lives in ``cucmkit.lab``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
