#!/usr/bin/env python3
"""Independent reference implementation of schemas/token.md and crates/pseudonym/README.md.

Writes the golden vectors the Rust tests check against:
  crates/token/tests/vectors.json      (tokens, rejections, link ids)
  crates/pseudonym/tests/vectors.json  (salt ratchet, visitor hash, subscriber pseudonym, state record)

It is written from the specifications, not from the Rust code, so the Rust tests passing means the
code and the documents agree. Needs the `blake3` package from PyPI. Run from the repository root:
  python3 tests/vectors/reference.py
"""

import base64
import ipaddress
import json
import pathlib
import struct

import blake3

ROOT = pathlib.Path(__file__).resolve().parents[2]


# --- tokens (schemas/token.md) -------------------------------------------------------------

def varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value == 0:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def field(data):
    return varint(len(data)) + data


KINDS = {"open": 1, "click": 2, "unsubscribe": 3}


def token_bytes(key_id, key, claims, version=1):
    body = bytes([version]) + field(key_id.encode())
    body += bytes([KINDS[claims["kind"]]])
    for name in ("tenant", "campaign", "subscriber"):
        body += field(claims[name].encode())
    if claims["kind"] == "click":
        body += field(claims["link"].encode()) + field(claims["url"].encode())
    body += varint(claims["issued_at"]) + varint(claims.get("expires_at") or 0)
    tag = blake3.blake3(body, key=key).digest()[:16]
    return body + tag


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_trailing_bits(token):
    """The same bytes with a non-zero unused bit in the last character: not canonical."""
    assert len(token) % 4 in (2, 3), "needs a token whose last character has unused bits"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) | 1]


def link_id(campaign, destination):
    data = struct.pack("<Q", len(campaign.encode())) + campaign.encode() + destination.encode()
    return blake3.blake3(data, derive_key_context="mailpulse link id v1").digest()[:8].hex()


def token_vectors():
    keys = {
        "k1": bytes(range(32)),
        "k2": bytes(range(32, 64)),
        "retired": bytes(range(64, 96)),
    }
    signing = ",".join(f"{kid}:{keys[kid].hex()}" for kid in ("k1", "k2"))
    cases = [
        ("open", "k1", {"kind": "open", "tenant": "acme", "campaign": "spring-sale",
                        "subscriber": "sub-000123", "issued_at": 1_700_000_000}),
        ("open with expiry", "k1", {"kind": "open", "tenant": "acme", "campaign": "c1",
                                    "subscriber": "s1", "issued_at": 1_700_000_000,
                                    "expires_at": 1_700_000_000 + 90 * 86400}),
        ("click", "k1", {"kind": "click", "tenant": "acme", "campaign": "spring-sale",
                         "subscriber": "sub-000123", "link": "l1",
                         "url": "https://shop.example.com/deals?utm_source=mail&x=%C3%A9#top",
                         "issued_at": 1_700_000_123}),
        ("click signed by second key", "k2", {"kind": "click", "tenant": "t", "campaign": "c",
                                              "subscriber": "s", "link": link_id("c", "http://example.org/"),
                                              "url": "http://example.org/", "issued_at": 1,
                                              "expires_at": 2}),
        ("unsubscribe, unicode ids", "k2", {"kind": "unsubscribe", "tenant": "café",
                                            "campaign": "été 2024 ☀", "subscriber": "Ünïcødé-42",
                                            "issued_at": 1_735_689_600}),
        ("long ids", "k1", {"kind": "open", "tenant": "t" * 256, "campaign": "c" * 200,
                            "subscriber": "s" * 130, "issued_at": 2**64 - 1}),
    ]
    valid = []
    for name, kid, claims in cases:
        valid.append({
            "name": name,
            "active": kid,
            "claims": claims,
            "token": b64(token_bytes(kid, keys[kid], claims)),
        })

    base = cases[2][2]
    good = token_bytes("k1", keys["k1"], base)
    flipped_tag = bytearray(good)
    flipped_tag[-1] ^= 0x01
    flipped_body = bytearray(good)
    flipped_body[10] ^= 0x20
    expiring = cases[1][2]
    rejections = [
        {"name": "tag bit flipped", "token": b64(bytes(flipped_tag)), "now": 0, "error": "bad_signature"},
        {"name": "body bit flipped", "token": b64(bytes(flipped_body)), "now": 0, "error": "bad_signature"},
        {"name": "truncated by one byte", "token": b64(good[:-1]), "now": 0, "error": "bad_signature"},
        {"name": "one byte appended", "token": b64(good + b"\x00"), "now": 0, "error": "bad_signature"},
        {"name": "retired key", "token": b64(token_bytes("retired", keys["retired"], base)),
         "now": 0, "error": "unknown_key"},
        {"name": "version 2", "token": b64(token_bytes("k1", keys["k1"], base, version=2)),
         "now": 0, "error": "unsupported_version"},
        {"name": "signed by k2 but names k1", "token": b64(token_bytes("k1", keys["k2"], base)),
         "now": 0, "error": "bad_signature"},
        {"name": "expired at the instant", "token": valid[1]["token"],
         "now": expiring["expires_at"], "error": "expired"},
        {"name": "padding", "token": b64(good) + "=", "now": 0, "error": "malformed"},
        {"name": "character outside the alphabet", "token": b64(good)[:-2] + "+/", "now": 0,
         "error": "malformed"},
        {"name": "non-zero trailing bits", "token": with_trailing_bits(b64(good)), "now": 0,
         "error": "malformed"},
        {"name": "empty", "token": "", "now": 0, "error": "malformed"},
        {"name": "too short", "token": b64(b"\x01\x02k1\x01"), "now": 0, "error": "malformed"},
    ]
    links = [{"campaign": c, "destination": d, "link_id": link_id(c, d)} for c, d in [
        ("spring-sale", "https://shop.example.com/"),
        ("spring-sale", "https://shop.example.com/deals"),
        ("spring-salehttps://shop.example.com/", ""),
        ("c", "http://example.org/"),
    ]]
    return {
        "comment": "Generated by tests/vectors/reference.py from schemas/token.md; do not edit.",
        "keys": {kid: key.hex() for kid, key in keys.items()},
        "signing": signing,
        "valid": valid,
        "rejections": rejections,
        "link_ids": links,
    }


# --- pseudonyms (crates/pseudonym/README.md) ----------------------------------------------

NEXT = "mailpulse salt ratchet v1 next"
SALT = "mailpulse salt ratchet v1 salt"


def derive(context, material):
    return blake3.blake3(material, derive_key_context=context).digest()


def framed(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def ip_bytes(ip):
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (b"\x04" if address.version == 4 else b"\x06") + address.packed


def visitor_hash(salt, tenant, ip, ua):
    data = framed(tenant) + ip_bytes(ip) + framed(ua)
    return blake3.blake3(data, key=salt).digest()[:16].hex()


def subscriber_pseudonym(key, tenant, subscriber):
    data = framed(tenant) + framed(subscriber)
    return blake3.blake3(data, key=key).digest()[:16].hex()


def state_record(day, state):
    body = b"MPSR" + bytes([1]) + struct.pack("<I", day) + state
    return body + blake3.blake3(body).digest()


def pseudonym_vectors():
    seed_day = 19_723  # 2024-01-01
    seed = bytes(range(100, 132))
    steps = []
    state = seed
    for day in range(seed_day, seed_day + 4):
        steps.append({"day": day, "state": state.hex(), "salt": derive(SALT, state).hex()})
        state = derive(NEXT, state)
    ua = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.1 Safari/605.1.15")
    visitors = []
    for day, tenant, ip, agent in [
        (seed_day, "acme", "203.0.113.7", ua),
        (seed_day, "acme", "::ffff:203.0.113.7", ua),
        (seed_day + 1, "acme", "203.0.113.7", ua),
        (seed_day, "other", "203.0.113.7", ua),
        (seed_day, "acme", "2001:db8::1", ua),
        (seed_day, "acme", "0.0.0.0", ""),
        (seed_day, "a", "198.51.100.1", "bc"),
        (seed_day, "ab", "198.51.100.1", "c"),
        (seed_day + 3, "café", "2001:db8:ffff::42", "Outlook ☃/16.0"),
    ]:
        salt = bytes.fromhex(steps[day - seed_day]["salt"])
        visitors.append({"day": day, "tenant": tenant, "ip": ip, "user_agent": agent,
                         "hash": visitor_hash(salt, tenant, ip, agent)})
    key = bytes(range(200, 232))
    subscribers = [{"key": key.hex(), "tenant": t, "subscriber": s,
                    "pseudonym": subscriber_pseudonym(key, t, s)}
                   for t, s in [("acme", "sub-000123"), ("other", "sub-000123"),
                                ("a", "bc"), ("ab", "c"), ("café", "Ünïcødé")]]
    return {
        "comment": "Generated by tests/vectors/reference.py from crates/pseudonym/README.md; do not edit.",
        "ratchet": {"seed_day": seed_day, "seed_state": seed.hex(), "steps": steps},
        "visitor_hash": visitors,
        "subscriber_pseudonym": subscribers,
        "state_record": {"day": seed_day, "state": seed.hex(),
                         "record": state_record(seed_day, seed).hex()},
    }


def write(path, data):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    write(ROOT / "crates/token/tests/vectors.json", token_vectors())
    write(ROOT / "crates/pseudonym/tests/vectors.json", pseudonym_vectors())
