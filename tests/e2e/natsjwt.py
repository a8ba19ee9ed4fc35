#!/usr/bin/python3
"""NATS operator-mode credentials without nsc (docs/fleet.md "JWT credentials").

Makes nkeys and NATS JWTs (v2) for a test server in operator mode, and user .creds files
as nsc writes them. Keys live in DIR (seeds 0600); nothing here talks to a server.

  natsjwt.py init DIR                  operator, system account SYS, account LINEGATE
                                       (JetStream enabled), their seeds and JWTs in DIR
  natsjwt.py server-conf DIR           the nats-server lines: operator, system_account,
                                       resolver MEMORY, resolver_preload
  natsjwt.py user DIR NAME OUT.creds [--pub SUBJ]... [--sub SUBJ]... [--exp SECONDS]
                                       [--untrusted]
        a user of LINEGATE: only the subjects given (none given: everything); --exp
        SECONDS from now (negative: already expired); --untrusted: the user JWT signed
        by a fresh account key the operator never signed (the server refuses it)
  natsjwt.py pub DIR NAME              the public key of DIR/NAME.seed

Learnt from nats-io/nkeys (strkey.go: prefix bytes, CRC16, base32) and nats-io/jwt v2
(claims layout); no code taken.
"""
import base64
import hashlib
import json
import os
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

PREFIX_SEED = 18 << 3
PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def unb32(text):
    return base64.b32decode(text + "=" * (-len(text) % 8))


def encode(prefix_bytes, key):
    raw = bytes(prefix_bytes) + key
    return b32(raw + struct.pack("<H", crc16(raw)))


def seed_text(kind, seed):
    p = PREFIX[kind]
    return encode([PREFIX_SEED | (p >> 5), (p & 31) << 3], seed)


def public_text(kind, seed):
    priv = Ed25519PrivateKey.from_private_bytes(seed)
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    return encode([PREFIX[kind]], pub)


def read_seed(text):
    raw = unb32(text.strip())
    body, crc = raw[:-2], struct.unpack("<H", raw[-2:])[0]
    if crc16(body) != crc or (body[0] & 0xF8) != PREFIX_SEED:
        sys.exit("natsjwt: not an nkey seed")
    kind_byte = ((body[0] & 7) << 5) | (body[1] >> 3)
    kind = [k for k, v in PREFIX.items() if v == kind_byte][0]
    return kind, body[2:34]


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_jwt(issuer_seed, issuer_kind, claims):
    """claims without jti/iat/iss: filled in here; signed by the issuer's nkey."""
    header = {"typ": "JWT", "alg": "ed25519-nkey"}
    claims = dict(claims)
    claims["iat"] = int(time.time())
    claims["iss"] = public_text(issuer_kind, issuer_seed)
    claims["jti"] = ""
    digest = hashlib.sha256(json.dumps(claims, separators=(",", ":")).encode()).digest()
    claims["jti"] = b32(digest)
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = Ed25519PrivateKey.from_private_bytes(issuer_seed).sign(signing_input.encode())
    return signing_input + "." + b64url(sig)


def new_seed(d, name, kind):
    seed = os.urandom(32)
    path = os.path.join(d, name + ".seed")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (seed_text(kind, seed) + "\n").encode())
    os.close(fd)
    return seed


def load(d, name):
    return read_seed(open(os.path.join(d, name + ".seed")).read())[1]


def write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, text.encode())
    os.close(fd)
    os.chmod(path, mode)


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1}


def account_jwt(op, name, acc_seed, jetstream):
    limits = dict(UNLIMITED)
    # JetStream is on for an account whose limits give it storage
    limits.update({"mem_storage": -1 if jetstream else 0,
                   "disk_storage": -1 if jetstream else 0,
                   "streams": -1 if jetstream else 0,
                   "consumer": -1 if jetstream else 0})
    return sign_jwt(op, "operator", {
        "name": name, "sub": public_text("account", acc_seed),
        "nats": {"type": "account", "version": 2, "limits": limits,
                 "default_permissions": {"pub": {}, "sub": {}}}})


def cmd_init(d):
    os.makedirs(d, exist_ok=True)
    op = new_seed(d, "operator", "operator")
    sys_seed = new_seed(d, "sys", "account")
    acc = new_seed(d, "account", "account")
    opub = public_text("operator", op)
    write(os.path.join(d, "operator.jwt"), sign_jwt(op, "operator", {
        "name": "plant", "sub": opub,
        "nats": {"type": "operator", "version": 2,
                 "system_account": public_text("account", sys_seed)}}) + "\n")
    write(os.path.join(d, "sys.jwt"), account_jwt(op, "SYS", sys_seed, False) + "\n")
    write(os.path.join(d, "account.jwt"), account_jwt(op, "LINEGATE", acc, True) + "\n")


def cmd_server_conf(d):
    rd = lambda n: open(os.path.join(d, n)).read().strip()
    sys_pub = public_text("account", load(d, "sys"))
    acc_pub = public_text("account", load(d, "account"))
    print('operator: "%s"' % rd("operator.jwt"))
    print("system_account: %s" % sys_pub)
    print("resolver: MEMORY")
    print("resolver_preload: {")
    print('  %s: "%s"' % (sys_pub, rd("sys.jwt")))
    print('  %s: "%s"' % (acc_pub, rd("account.jwt")))
    print("}")


def creds_text(jwt, seed_txt):
    return ("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n"
            % (jwt, seed_txt))


def cmd_user(d, name, out, pubs, subs, exp, untrusted):
    seed = new_seed(d, name, "user")
    nats = {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1,
            "pub": {"allow": pubs} if pubs else {},
            "sub": {"allow": subs} if subs else {}}
    claims = {"name": name, "sub": public_text("user", seed), "nats": nats}
    if exp is not None:
        claims["exp"] = int(time.time()) + exp
    issuer = os.urandom(32) if untrusted else load(d, "account")
    write(out, creds_text(sign_jwt(issuer, "account", claims), seed_text("user", seed)),
          0o600)


def main(argv):
    if len(argv) >= 2 and argv[0] == "init":
        return cmd_init(argv[1])
    if len(argv) == 2 and argv[0] == "server-conf":
        return cmd_server_conf(argv[1])
    if len(argv) == 3 and argv[0] == "pub":
        kind, seed = read_seed(open(os.path.join(argv[1], argv[2] + ".seed")).read())
        return print(public_text(kind, seed))
    if len(argv) >= 4 and argv[0] == "user":
        pubs, subs, exp, untrusted, rest = [], [], None, False, argv[4:]
        while rest:
            opt = rest.pop(0)
            if opt == "--untrusted":
                untrusted = True
                continue
            if not rest:
                sys.exit("natsjwt: %s needs a value" % opt)
            val = rest.pop(0)
            if opt == "--pub":
                pubs.append(val)
            elif opt == "--sub":
                subs.append(val)
            elif opt == "--exp":
                exp = int(val)
            else:
                sys.exit("natsjwt: unknown option %s" % opt)
        return cmd_user(argv[1], argv[2], argv[3], pubs, subs, exp, untrusted)
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
