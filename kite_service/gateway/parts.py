"""What the gateway holds for the service's lifetime: its clients, its connections to Kite, its audit.

Calls go to Kite through urllib3's connection pool (requests' own engine, used without requests'
per-call layers: the gateway passes bodies through and decodes nothing). Proxy settings come
from the environment once, as requests would read them; certificates from certifi, as requests'.
"""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import certifi
import requests.utils
import urllib3

from kite_service.gateway.audit import GatewayAudit
from kite_service.gateway.clients import ClientRegistry

POOL_SIZE = 16  # at least the gateway calls that may be under way at once (forward.MAX_CALLS_AT_ONCE)


def connections_to(kite_root: str) -> urllib3.PoolManager:
    """A pool of kept-open connections to `kite_root`, through the environment's proxy if it names one."""
    proxy = requests.utils.get_environ_proxies(kite_root).get(urlsplit(kite_root).scheme)
    settings = {"maxsize": POOL_SIZE, "ca_certs": certifi.where(), "retries": False}
    return urllib3.ProxyManager(proxy, **settings) if proxy else urllib3.PoolManager(**settings)


@dataclass
class Gateway:
    clients: ClientRegistry  # the programs that reach Kite through the gateway
    audit: GatewayAudit  # one line per order call; each client's counts for the day
    connections: urllib3.PoolManager  # to Kite, kept open

    @classmethod
    def build(cls, clients_file: Path, log_dir: Path, kite_root: str, clock) -> "Gateway":
        return cls(ClientRegistry(clients_file, clock=clock), GatewayAudit(log_dir), connections_to(kite_root))
