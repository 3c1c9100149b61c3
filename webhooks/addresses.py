"""Where an event webhook may go: public addresses only, checked before every request (SSRF).

A tenant's admin chooses the URL, so it is hostile input: it could name this server's own
services (loopback), the internal network (private ranges), the cloud's metadata service
(169.254.169.254, which hands out credentials) or a name that resolves to any of them.

- ``url_parts``: the syntax only (https in production; a host; no credentials in the URL).
  The model's ``clean`` runs it, so nothing can store a URL that could never be sent to.
- ``target_check``: the syntax, then the host resolved and every address it resolves to
  checked. Forms and the API run it when a subscription is saved (a clear error), and the
  delivery runs it again before every request and connects to exactly the address it checked
  (``webhooks.transport``), never resolving the name a second time: a name that resolved to a
  public address for the check cannot then answer 127.0.0.1 for the connection (DNS rebinding).

``WEBHOOKS_ALLOW_PRIVATE_TARGETS`` lets tests and local development use loopback and private
addresses; metadata, multicast and unspecified addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services: AWS, GCP and Azure (IPv4), AWS (IPv6), AWS ECS task metadata.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("169.254.170.2"),
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class UrlParts:
    scheme: str  # "https" (or "http" outside production)
    host: str  # lower-case, ASCII (IDNA), no trailing dot, no brackets
    port: int
    target: str  # path and query string, as sent in the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    parts: UrlParts
    address: str  # the checked address to connect to


def url_parts(url: str) -> UrlParts:
    """The URL's parts, or a ValidationError saying what is wrong with it (no DNS look-up)."""
    if not isinstance(url, str) or not url:
        raise ValidationError("Enter the URL to send events to.")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"A webhook URL may have at most {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("A webhook URL may not contain spaces or control characters.")
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise ValidationError(f"This is not a valid URL ({exc}).") from None
    scheme = split.scheme.lower()
    allowed = ("https",) if settings.PRODUCTION else ("https", "http")
    if scheme not in allowed:
        raise ValidationError("Use an https:// URL." if scheme != "http" else "Use https://, not http://.")
    if split.username is not None or split.password is not None:
        raise ValidationError("Put no user name or password in the URL; verify our signature instead.")
    host = (split.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("The URL needs a host name.")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError:
        raise ValidationError("The URL's host name is not a valid domain name.") from None
    target = split.path or "/"
    if split.query:
        target += f"?{split.query}"
    return UrlParts(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), target=target)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address_refusal(address: IPAddress) -> str | None:
    """Why a request may not go to ``address`` ("a loopback address"), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            refused = address_refusal(embedded)
            if refused:
                return refused
        if address.teredo:
            refused = address_refusal(address.teredo[1])
            if refused:
                return refused
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, once each."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError(f"The host {host} could not be resolved.") from None
    found: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        if address not in found:
            found.append(address)
    if not found:
        raise ValidationError(f"The host {host} could not be resolved.")
    return found


def target_check(url: str) -> Target:
    """The URL's parts and the checked address to connect to; ValidationError when any address
    the host resolves to is refused (one bad address is enough: a resolver may answer either)."""
    parts = url_parts(url)
    addresses = resolve(parts.host, parts.port)
    for address in addresses:
        refused = address_refusal(address)
        if refused:
            name = parts.host if parts.host == str(address) else f"{parts.host} ({address})"
            raise ValidationError(f"{name} is {refused}: event webhooks go to public internet addresses only.")
    return Target(parts=parts, address=str(addresses[0]))
