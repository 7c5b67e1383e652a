"""Fetching a URL a platform gave us (call recordings) without becoming a proxy into our network.

A webhook body names the URL, so whoever can post one could make the gateway fetch an internal
address and store the answer as an attachment agents can read (SSRF). Only configured hosts are
fetched, over https, and every address the name resolves to — at the first request and after every
redirect, which we follow ourselves — must be a public one; size and time are capped.
Residual risk: the name is resolved again by the HTTP client when it connects (DNS rebinding between
the check and the connection); the host allow-list is the main defence.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from channels.errors import PayloadTooLarge
from channels.http_body import read_limited

MAX_REDIRECTS = 3


class FetchRefused(Exception):
    """The URL is not one we may fetch; the reason says why (for the log)."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    hosts: frozenset[str]          # host names, or ".suffix" for a domain and its subdomains
    require_https: bool = True
    # Loopback and private addresses: only for stand-ins in tests and local set-ups.
    allow_private_addresses: bool = False

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.hosts)


async def check_url(url: str, policy: FetchPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme not in (("https",) if policy.require_https else ("https", "http")):
        raise FetchRefused(f"scheme {parts.scheme or 'none'} not allowed")
    host = parts.hostname or ""
    if not host or not policy.host_allowed(host):
        raise FetchRefused(f"host {host[:64] or 'none'} is not a configured recording host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchRefused(f"host {host[:64]} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not policy.allow_private_addresses and not address.is_global:
            raise FetchRefused(f"host {host[:64]} resolves to a non-public address")
        if address.is_multicast or address.is_unspecified:
            raise FetchRefused(f"host {host[:64]} resolves to a multicast or unspecified address")


async def fetch_limited(http: aiohttp.ClientSession, url: str, policy: FetchPolicy, limit: int,
                        timeout_seconds: float = 30.0) -> bytes:
    """The body at `url` (≤ `limit` bytes), following at most MAX_REDIRECTS redirects, each checked.
    Raises FetchRefused, PayloadTooLarge, aiohttp.ClientError, OSError or TimeoutError."""
    async with asyncio.timeout(timeout_seconds):
        for _ in range(MAX_REDIRECTS + 1):
            await check_url(url, policy)
            async with http.get(url, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303, 307, 308):
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchRefused(f"redirect without a Location (HTTP {resp.status})")
                    url = urljoin(url, location)
                    continue
                if resp.status != 200:
                    raise OSError(f"HTTP {resp.status}")
                return await read_limited(resp, limit, "recording")
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


__all__ = ["FetchPolicy", "FetchRefused", "PayloadTooLarge", "check_url", "fetch_limited"]
