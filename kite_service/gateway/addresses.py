"""Who may use the gateway and the ticker hub: this machine's programs, and GATEWAY_ALLOWED_ADDRESSES."""

import ipaddress


def is_allowed_address(text: str, networks: tuple) -> bool:
    """True for a loopback address or one in `networks` (ipaddress networks); False for anything else,
    an unreadable address included. An IPv4 address written as IPv6 (::ffff:203.0.113.7) counts as IPv4."""
    try:
        address = ipaddress.ip_address((text or "").partition("%")[0])
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback or any(address in network for network in networks)


# Headers a reverse proxy adds to name the caller. On a loopback connection with TRUSTED_PROXY unset,
# one of them means a proxy on this machine forwards callers who would all look like loopback, which
# the allow-list always lets in: such a call is refused (gateway and hub), never let through.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
UNTRUSTED_FORWARDING = (
    "Kite App refuses calls forwarded by a proxy it was not told of: this one carries {header} but "
    "TRUSTED_PROXY is not set, so every caller would look like this machine. Set TRUSTED_PROXY to the "
    "proxy's address in .env and restart."
)


def untrusted_forwarding(remote_addr: str, headers, trusted_proxy: str) -> str | None:
    """The forwarding header of a loopback call while TRUSTED_PROXY is unset, or None."""
    if trusted_proxy or not is_allowed_address(remote_addr, ()):
        return None
    return next((name for name in FORWARDING_HEADERS if headers.get(name) is not None), None)
