"""Who really sent a mail: enough to let it act on an existing ticket (a rating, a reply in a thread).

Anyone can write `From: <victim>`; the envelope sender is just as free. A mail may act on a ticket
only when its envelope sender is its From address and, where it carries a DKIM signature, the
signature verifies for the From domain (dkimpy; DNS through dnspython with a short timeout). SPF
needs the connecting address and DNS and is not checked here; DMARC policy neither: an operator who
needs them puts a verifying MTA in front and we read its result (not done yet). Unauthenticated mail
is still received: it becomes a new request, never an action on someone's ticket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import dkim

log = logging.getLogger(__name__)

DnsTxt = Callable[..., bytes | None]


@dataclass(frozen=True, slots=True)
class MailAuth:
    envelope_matches: bool
    dkim: str  # "none" (no signature) | "pass" | "fail"
    dkim_domain: str | None = None

    @property
    def may_act(self) -> bool:
        return self.envelope_matches and self.dkim != "fail"

    def as_json(self) -> dict[str, object]:
        return {"envelope_matches_from": self.envelope_matches, "dkim": self.dkim, "dkim_domain": self.dkim_domain,
                "may_act_on_tickets": self.may_act}


def dns_txt(timeout_seconds: float, server: str = "") -> DnsTxt:
    """dkimpy's DNS lookup with our timeout (its default waits for the resolver's); `server`
    ("host:port") replaces the system resolver (a stand-in in tests, a local resolver in production)."""
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=not server)
    if server:
        host, _, port = server.rpartition(":")
        resolver.nameservers, resolver.port = [host], int(port)

    def lookup(name: bytes, timeout: float = timeout_seconds) -> bytes | None:
        import dns.exception
        try:
            answers = resolver.resolve(name.decode("ascii").rstrip("."), "TXT", lifetime=timeout_seconds)
        except (dns.exception.DNSException, UnicodeError):
            return None
        return b"".join(b"".join(r.strings) for r in answers)
    return lookup


def authenticate(raw: bytes, envelope_from: str, from_addr: str | None, dnsfunc: DnsTxt) -> MailAuth:
    """Blocking (DNS): call it from a worker thread."""
    matches = bool(envelope_from and from_addr and envelope_from.strip().lower() == from_addr.strip().lower())
    if b"dkim-signature:" not in raw[:200_000].lower():
        return MailAuth(matches, "none")
    from_domain = (from_addr or "").rsplit("@", 1)[-1].lower()
    try:
        verifier = dkim.DKIM(raw)
        ok = verifier.verify(dnsfunc=dnsfunc)
        domain = verifier.domain.decode("ascii", "replace").lower() if verifier.domain else None
    except Exception as exc:  # dkimpy raises many kinds for malformed signatures
        log.info("email: DKIM signature unreadable: %s", type(exc).__name__)
        return MailAuth(matches, "fail")
    aligned = bool(domain) and (from_domain == domain or from_domain.endswith("." + str(domain)))
    return MailAuth(matches, "pass" if ok and aligned else "fail", domain)
