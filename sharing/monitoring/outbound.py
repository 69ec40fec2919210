"""Outbound HTTP to members' webhook endpoints, safe against being pointed inward.

A URL is checked when the endpoint is registered, but a name can resolve elsewhere later (DNS
rebinding): the transport resolves the host itself at every connection, checks each address, and
connects to the address it checked (TLS still verifies the certificate against the name, through
SNI). In production no loopback, private, link-local (cloud metadata), multicast or reserved
address is ever reached, unless an operator allow-listed the host (``RISKSHARE_WEBHOOK_ALLOW_HOSTS``).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError

TIMEOUT_SECONDS = 10


class OutboundRefused(Exception):
    """The destination is not one the platform may reach."""


def _host_allowed(host: str) -> bool:
    return host.lower().strip("[]") in settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS


def address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def checked_address(host: str, port: int) -> str:
    """The first address of ``host`` after checking every one it resolves to (any refused one refuses)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundRefused(f"cannot resolve {host}") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise OutboundRefused(f"cannot resolve {host}")
    refused = [address for address in addresses if not address_allowed(address)]
    if refused:
        raise OutboundRefused(f"{host} resolves to a refused address")
    return addresses[0]


class GuardedTransport(httpx.BaseTransport):
    """Resolve, check, connect to the checked address; the Host header and SNI keep the name."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if not settings.DEBUG and not _host_allowed(host):
            if request.url.scheme != "https":
                raise OutboundRefused("only https is allowed")
            address = checked_address(host, request.url.port or 443)
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def client() -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(), timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)


def endpoint_url_check(url: str) -> str:
    """The URL, if the platform may deliver to it; a domain error (``url_not_allowed``) if not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    trusted = settings.DEBUG or _host_allowed(host)
    problem = None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        problem = _("Give an absolute https URL without credentials.")
    elif parts.scheme == "http" and not trusted:
        problem = _("Webhook URLs must use https.")
    elif not trusted:
        try:
            checked_address(host, parts.port or 443)
        except (OutboundRefused, ValueError):
            problem = _("This URL does not resolve to a public address the platform may reach.")
    if problem:
        raise DomainError(problem, code="url_not_allowed", field="/url")
    return url
