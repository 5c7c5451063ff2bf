"""What the gateway holds for the service's lifetime: its clients, its connections to Kite, its audit."""

from dataclasses import dataclass, field
from pathlib import Path

import requests

from kite_service.gateway.audit import GatewayAudit
from kite_service.gateway.clients import ClientRegistry
from kite_service.kite.client import FastJSONSession


@dataclass
class Gateway:
    clients: ClientRegistry  # the programs that reach Kite through the gateway
    audit: GatewayAudit  # one line per order call; each client's counts for the day
    # Connections to Kite, kept open; proxy settings read once per host (kite/client.py), not per call.
    session: requests.Session = field(default_factory=FastJSONSession)

    @classmethod
    def build(cls, clients_file: Path, log_dir: Path, clock) -> "Gateway":
        return cls(ClientRegistry(clients_file, clock=clock), GatewayAudit(log_dir))
