#!/usr/bin/env python3
"""A small authoritative DNS server for the authentication tests (SPF, DKIM, DMARC, ARC).

Usage: dnsd.py ZONE.json

Binds UDP and TCP on 127.0.0.1, on the same ephemeral port, prints that port on one line to stdout,
then serves the zone until it is killed or its stdin reaches end of file. The test that starts it
holds the write end of stdin, so a test process that dies (even by SIGKILL) never leaks a server.

Zone JSON:
  {"records": [{"name": "supplier.test", "type": "TXT", "value": "v=spf1 ip4:127.0.0.1 -all"},
               {"name": "mx.supplier.test", "type": "A", "value": "127.0.0.1"},
               {"name": "supplier.test", "type": "MX", "value": "10 mx.supplier.test"}, ...],
   "timeout": ["slow.test"], "servfail": ["broken.test"]}
Types: A, AAAA, TXT, MX ("PREF HOST"), CNAME, PTR. Names are case-insensitive, the trailing dot is
optional. A name at or under a "timeout" suffix is never answered (a DNS timeout); under a
"servfail" suffix it gets SERVFAIL. A known name asked for another type gets NOERROR with no
answer (NODATA); an unknown name gets NXDOMAIN. Every answer is authoritative (AA).
DNSD_LOG=1 logs each query to stderr.
Over UDP an answer larger than the client's limit (512 bytes without EDNS, else the EDNS payload
size) is sent truncated with TC set, so the client retries over TCP, as a real server does.
"""

import json
import os
import socket
import socketserver
import struct
import sys
import threading

from dnslib import AAAA, CNAME, EDNS0, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord

# The TTL of every answer. Short, since each test has its own server and zone.
TTL = 60
# RFC 1035 4.2.1: the UDP limit for a client that does not announce EDNS.
CLASSIC_UDP_LIMIT = 512
# What this server announces in its own OPT record and the most it sends over UDP.
OUR_EDNS_PAYLOAD = 1232
# A TXT character-string holds at most 255 bytes (RFC 1035 3.3.14); longer values are split.
TXT_CHUNK = 255
# DNSD_LOG=1 in the environment logs every query to stderr (to see what a resolver asked).
LOG = os.environ.get("DNSD_LOG") == "1"
# How often to try an ephemeral port that is free for both UDP and TCP.
BIND_ATTEMPTS = 50


def norm(name):
    return str(name).rstrip(".").lower()


def under(name, suffixes):
    return any(name == s or name.endswith("." + s) for s in suffixes)


def txt_chunks(value):
    data = value.encode("utf-8")
    return [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]


def make_rdata(rtype, value):
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "TXT":
        return TXT(txt_chunks(value))
    if rtype == "MX":
        pref, host = value.split(None, 1)
        return MX(host.strip(), int(pref))
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "PTR":
        return PTR(value)
    raise ValueError("unsupported record type %r" % rtype)


class Zone:
    def __init__(self, spec):
        # name -> list of (type, rdata)
        self.records = {}
        for rec in spec.get("records", []):
            rtype = rec["type"].upper()
            self.records.setdefault(norm(rec["name"]), []).append(
                (rtype, make_rdata(rtype, rec["value"]))
            )
        self.timeout = [norm(s) for s in spec.get("timeout", [])]
        self.servfail = [norm(s) for s in spec.get("servfail", [])]

    def answer(self, request):
        """The reply to a parsed query, or None when the query must go unanswered."""
        reply = request.reply()  # QR, RD copied, the question echoed as asked
        reply.header.aa = 1
        reply.header.ra = 0
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return reply
        q = request.q
        qname = norm(q.qname)
        if under(qname, self.timeout):
            return None
        if under(qname, self.servfail):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        qtype = QTYPE.get(q.qtype)
        name, owner, seen = qname, q.qname, set()
        while True:
            entries = self.records.get(name)
            if entries is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                    negative(reply, qname)
                return reply
            matched = [(t, rd) for (t, rd) in entries if t == qtype or qtype == "ANY"]
            for t, rd in matched:
                reply.add_answer(RR(owner, getattr(QTYPE, t), rdata=rd, ttl=TTL))
            cname = [rd for (t, rd) in entries if t == "CNAME"]
            if not matched and not cname:
                negative(reply, qname)
            if matched or not cname or name in seen:
                return reply
            # Follow a CNAME inside the zone, as an authoritative server does.
            seen.add(name)
            reply.add_answer(RR(owner, QTYPE.CNAME, rdata=cname[0], ttl=TTL))
            owner = cname[0].label
            name = norm(owner)


def negative(reply, qname):
    """An SOA in the authority section of a negative answer (NXDOMAIN, or no data), as real
    servers send: resolvers cache the absence for its minimum (RFC 2308), so a name without
    records is not asked again for every message."""
    labels = qname.rstrip(".").split(".")
    apex = ".".join(labels[-2:]) + "."
    reply.add_auth(
        RR(apex, QTYPE.SOA, rdata=SOA("ns." + apex, "hostmaster." + apex, (1, 3600, 600, 86400, TTL)), ttl=TTL)
    )


def edns_payload(request):
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(CLASSIC_UDP_LIMIT, min(rr.rclass, OUR_EDNS_PAYLOAD))
    return None


def respond(zone, data, udp):
    """The wire reply to one query, or None to stay silent."""
    try:
        request = DNSRecord.parse(data)
    except Exception:  # a malformed query: a real server drops it too
        return None
    reply = zone.answer(request)
    if LOG:
        q = request.q
        sys.stderr.write(
            "dnsd: %s %s %s -> %s\n"
            % ("udp" if udp else "tcp", q.qname, QTYPE.get(q.qtype), "silence" if reply is None
               else RCODE.get(reply.header.rcode))
        )
    if reply is None:
        return None
    payload = edns_payload(request)
    if payload is not None:
        reply.add_ar(EDNS0(udp_len=OUR_EDNS_PAYLOAD))
    wire = reply.pack()
    limit = payload if payload is not None else CLASSIC_UDP_LIMIT
    if udp and len(wire) > limit:
        # Too big for this client over UDP: the question alone, TC set; it retries over TCP.
        reply.rr, reply.auth = [], []
        reply.header.tc = 1
        wire = reply.pack()
    return wire


def serve_udp(zone, sock):
    while True:
        data, peer = sock.recvfrom(65535)
        wire = respond(zone, data, udp=True)
        if wire is not None:
            sock.sendto(wire, peer)


class TcpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        while True:
            head = recv_exact(conn, 2)
            if head is None:
                return
            (length,) = struct.unpack("!H", head)
            data = recv_exact(conn, length)
            if data is None:
                return
            wire = respond(self.server.zone, data, udp=False)
            if wire is not None:
                conn.sendall(struct.pack("!H", len(wire)) + wire)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False


def bind_both():
    """A UDP socket and a TCP server on the same free loopback port."""
    last = None
    for _ in range(BIND_ATTEMPTS):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        try:
            tcp = TcpServer(("127.0.0.1", port), TcpHandler)
            return udp, tcp, port
        except OSError as e:  # the port is taken for TCP: try another
            last = e
            udp.close()
    raise SystemExit("dnsd: no port free for both UDP and TCP: %s" % last)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: dnsd.py ZONE.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        zone = Zone(json.load(f))
    udp, tcp, port = bind_both()
    tcp.zone = zone
    threading.Thread(target=serve_udp, args=(zone, udp), daemon=True).start()
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    # Serve until stdin closes: the parent test holds its write end.
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
