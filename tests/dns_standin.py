"""A DNS server on loopback for the tests: answers TXT records it was given, NXDOMAIN otherwise, at once.

The gateway looks up DKIM keys in DNS; tests must never query a real resolver (this machine's is on a
private address), and a closed port would make every lookup wait for its timeout.
"""

from __future__ import annotations

import socketserver
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsStandIn:
    def __init__(self) -> None:
        self.txt: dict[str, list[bytes]] = {}
        self.queries: list[str] = []
        stand_in = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                try:
                    query = dns.message.from_wire(data)
                except Exception:
                    return
                response = dns.message.make_response(query)
                question = query.question[0]
                name = question.name.to_text().rstrip(".").lower()
                stand_in.queries.append(name)
                records = stand_in.txt.get(name)
                if records and question.rdtype == dns.rdatatype.TXT:
                    response.answer.append(dns.rrset.from_text(
                        question.name, 60, "IN", "TXT", *[" ".join(f'"{r.decode()}"' for r in _chunks(v))
                                                         for v in records]))
                else:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                sock.sendto(response.to_wire(), self.client_address)

        self._server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="dns-stand-in", daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"


def _chunks(value: bytes, size: int = 250) -> list[bytes]:
    return [value[i:i + size] for i in range(0, len(value), size)] or [b""]


_shared: DnsStandIn | None = None


def shared_dns() -> DnsStandIn:
    global _shared
    if _shared is None:
        _shared = DnsStandIn()
    return _shared
