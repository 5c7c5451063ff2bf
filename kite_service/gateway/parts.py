"""What the gateway holds for the service's lifetime: its clients, its connections to Kite, its audit.

Calls go to Kite through urllib3's connection pool (requests' own engine, used without requests'
per-call layers: the gateway passes bodies through and decodes nothing). Proxy settings come
from the environment once, as requests would read them; certificates from certifi, as requests'.
"""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import certifi
import requests.utils
import urllib3

from kite_service.gateway.audit import GatewayAudit
from kite_service.gateway.clients import ClientRegistry
from kite_service.gateway.slots import POOL_SIZES, CallSlots

POOL_SIZE = sum(POOL_SIZES.values()) + 2  # at least the gateway calls that may be under way at once


class KiteConnections:
    """Kept-open connections to the Kite root: `request(method, path_and_query, ...)` sends one call.

    Straight to Kite, one connection pool taken once (a PoolManager would parse the URL and look up
    its pool on every call); through an HTTP proxy named by the environment, the proxy manager."""

    def __init__(self, kite_root: str):
        self.root = kite_root.rstrip("/")
        proxy = requests.utils.get_environ_proxies(kite_root).get(urlsplit(kite_root).scheme)
        settings = {"maxsize": POOL_SIZE, "ca_certs": certifi.where(), "retries": False}
        self._manager = urllib3.ProxyManager(proxy, **settings) if proxy else urllib3.PoolManager(**settings)
        self._pool = None if proxy else self._manager.connection_from_url(self.root)
        self._root_path = urlsplit(self.root).path  # Kite's is "", a test double's may have one

    def request(self, method: str, path: str, **options) -> urllib3.BaseHTTPResponse:
        if self._pool is None:
            return self._manager.urlopen(method, self.root + path, **options)
        return self._pool.urlopen(method, self._root_path + path, **options)


@dataclass
class Gateway:
    clients: ClientRegistry  # the programs that reach Kite through the gateway
    audit: GatewayAudit  # one line per order call; each client's counts for the day
    connections: KiteConnections  # to Kite, kept open
    slots: CallSlots = field(default_factory=CallSlots)  # calls under way, per class and client

    @classmethod
    def build(cls, clients_file: Path, log_dir: Path, kite_root: str, clock) -> "Gateway":
        return cls(ClientRegistry(clients_file, clock=clock), GatewayAudit(log_dir), KiteConnections(kite_root))
