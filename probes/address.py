"""Host names and ports as the checks accept them, refused up front when they cannot work.

An address that cannot be right (port 999999999999, a label longer than DNS allows, an
IPv6 address without brackets) is the user's mistake, said as such before anything is
resolved, not reported later as "cannot resolve" or a crash inside a resolver.
"""

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


def check_port(text: str, address: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{address!r}: the port must be a number")
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"{address!r}: port {port} is outside 1-65535")
    return port


def dns_name(host: str, address: str) -> str:
    """A host name as getaddrinfo and the Host header take it: ASCII (IDNA for others),
    labels of 1 to 63 letters, digits, hyphens or underscores, 253 characters in all
    (RFC 1035 2.3.4), checked here rather than found out as a failed lookup."""
    try:
        name = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise ValueError(f"{address!r}: {host[:70]!r} is not a valid host name") from None
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    for label in labels:
        if len(name) > 253 or not label or len(label) > 63 or not _HOST_CHARS.issuperset(
                label):
            raise ValueError(f"{address!r}: not a valid host name (at most 63 characters "
                             f"between dots, 253 in all): {label[:70]!r} is no valid part "
                             "of a host name")
    return name


def check_host(host: str, address: str) -> str:
    """A DNS name, an IPv4 address or a bracketless IPv6 address (with an optional %zone);
    returns it unchanged."""
    if not host:
        raise ValueError(f"{address!r}: the host is empty")
    if ":" in host:  # IPv6, brackets already taken off by the caller
        literal, _, zone = host.partition("%")
        if not literal or any(char not in "0123456789abcdefABCDEF:." for char in literal) or (
                "%" in host and not zone):
            raise ValueError(f"{address!r}: {host!r} is no IPv6 address")
        return host
    dns_name(host, address)
    return host


def split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``[v6%zone]:port``; a port is required unless a
    default is given."""
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{address!r}: write IPv6 addresses as [address]:port")
        port_text = rest[1:]
    elif address.count(":") > 1:
        raise ValueError(f"{address!r}: write IPv6 addresses in brackets, as [::1]:50051")
    else:
        host, _, port_text = address.partition(":")
        if ":" not in address:
            port_text = ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"{address!r}: give a port, as host:port")
        return check_host(host, address), default_port
    return check_host(host, address), check_port(port_text, address)
