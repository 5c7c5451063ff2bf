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
