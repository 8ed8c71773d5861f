#!/usr/bin/env python3
"""An independent DKIM signer and ARC sealer for the authentication tests, built on dkimpy.

  dkim_tool.py keygen --type rsa|ed25519 --out KEYFILE
      Writes a new private key (PEM PKCS#1 for rsa, dkimpy's base64 seed for ed25519) and prints
      the DNS TXT value: "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...".
  dkim_tool.py sign --key KEYFILE --domain D --selector S [--type rsa|ed25519] [--headers h1,h2]
      Reads a message on stdin and writes it to stdout with a DKIM-Signature prepended.
  dkim_tool.py arc-seal --key KEYFILE --domain D --selector S --srv-id ID
      Reads a message that carries "Authentication-Results: ID; ..." and writes it with the next
      ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) prepended. ARC is
      RSA only in dkimpy. dkimpy's sealer does no DNS: it takes the chain state (cv=) from the
      "arc=" result in that Authentication-Results, and seals i=1 with cv=none when there is none.

Any failure exits non-zero with the reason on stderr.
"""

import argparse
import base64
import sys

import dkim

# RSA 2048: the size operators publish today, and large enough that its TXT value needs two
# character-strings, which exercises the DNS server's splitting.
RSA_BITS = 2048
DEFAULT_HEADERS = "from,to,subject,date,message-id"
ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}


def keygen(args):
    if args.type == "rsa":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, what dkimpy parses
            serialization.NoEncryption(),
        )
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with open(args.out, "wb") as f:
            f.write(pem)
        print("v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode("ascii"))
    else:
        import nacl.encoding
        import nacl.signing

        key = nacl.signing.SigningKey.generate()
        with open(args.out, "wb") as f:
            f.write(key.encode(encoder=nacl.encoding.Base64Encoder))
        public = key.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode("ascii")
        print("v=DKIM1; k=ed25519; p=" + public)


def read_key(path):
    with open(path, "rb") as f:
        return f.read().strip() + b"\n"


def header_list(text):
    return [h.strip().encode("ascii") for h in text.split(",") if h.strip()]


def sign(args):
    message = sys.stdin.buffer.read()
    sig = dkim.sign(
        message,
        args.selector.encode("ascii"),
        args.domain.encode("ascii"),
        read_key(args.key),
        signature_algorithm=ALGORITHMS[args.type],
        include_headers=header_list(args.headers),
    )
    if not sig:
        raise SystemExit("dkim_tool: dkimpy produced no signature")
    sys.stdout.buffer.write(sig + message)


def arc_seal(args):
    message = sys.stdin.buffer.read()
    headers = dkim.arc_sign(
        message,
        args.selector.encode("ascii"),
        args.domain.encode("ascii"),
        read_key(args.key),
        args.srv_id.encode("ascii"),
    )
    if not headers:
        raise SystemExit(
            "dkim_tool: dkimpy made no ARC set (no Authentication-Results for %r?)" % args.srv_id
        )
    sys.stdout.buffer.write(b"".join(headers) + message)


def main():
    parser = argparse.ArgumentParser(description="DKIM signing and ARC sealing for tests")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen")
    p.add_argument("--type", choices=ALGORITHMS, default="rsa")
    p.add_argument("--out", required=True)
    p.set_defaults(run=keygen)

    p = sub.add_parser("sign")
    p.add_argument("--key", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--selector", required=True)
    p.add_argument("--type", choices=ALGORITHMS, default="rsa")
    p.add_argument("--headers", default=DEFAULT_HEADERS)
    p.set_defaults(run=sign)

    p = sub.add_parser("arc-seal")
    p.add_argument("--key", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--selector", required=True)
    p.add_argument("--srv-id", required=True)
    p.set_defaults(run=arc_seal)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
