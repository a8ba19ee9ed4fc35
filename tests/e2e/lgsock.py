#!/usr/bin/env python3
"""One request on a linegate or linegated control socket, in the control protocol
(docs/operations.md): a 4-byte big-endian length, then one JSON object; the reply is
framed the same way.

    lgsock.py SOCKET REQUEST_JSON [FIELD]

prints the reply (or only its FIELD) as JSON; exits 1 when the reply says "ok": false.
"""
import json
import socket
import struct
import sys


def call_raw(path, data, timeout=10.0, shut=True):
    """Send raw bytes, return the raw reply bytes (everything until EOF)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if shut:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        pass  # a server that did not read all we sent resets after its reply
    s.close()
    return out


def frame(body):
    return struct.pack(">I", len(body)) + body


def unframe(data):
    if len(data) < 4:
        raise ValueError(f"reply of {len(data)} bytes has no length header")
    n = struct.unpack(">I", data[:4])[0]
    if len(data) - 4 != n:
        raise ValueError(f"reply announces {n} bytes, has {len(data) - 4}")
    return json.loads(data[4:])


def call(path, req, timeout=10.0):
    body = req if isinstance(req, bytes) else json.dumps(req).encode()
    return unframe(call_raw(path, frame(body), timeout))


if __name__ == "__main__":
    r = call(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps(r[sys.argv[3]] if len(sys.argv) > 3 else r))
    sys.exit(0 if r.get("ok") else 1)
