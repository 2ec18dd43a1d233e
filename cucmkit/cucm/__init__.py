"""cucmkit.cucm: one client per CUCM interface, and the Cluster/Node facade that holds them.

    from cucmkit.params import load_parameters
    from cucmkit.cucm import Cluster

    with Cluster.from_parameters(load_parameters("parameters/lab.yaml")) as cluster:
        for record in cluster.inventory():
            print(record.node, record.purpose, record.days_left(now))
"""

from __future__ import annotations

from cucmkit.certs.records import CertRecord
from cucmkit.cucm.models import BackupStatus, ProcessNode, ServiceState
from cucmkit.cucm.node import Cluster, Node
from cucmkit.cucm.risport import RegistrationSummary
from cucmkit.cucm.store import CertStore

__all__ = ["Cluster", "Node", "CertStore", "CertRecord", "ServiceState", "ProcessNode", "BackupStatus", "RegistrationSummary"]
