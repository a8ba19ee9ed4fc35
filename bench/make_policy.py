#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a policy that enrolls N devices, each with its own key file, source address, port and
MAC, for linegate-loadgen and linegate at fleet scale (up to 4096, LG_POLICY_MAX_DEVICES).

  bench/make_policy.py OUT_DIR N [--head FILE] [--subnet CIDR] [--first-id ID] ...

writes OUT_DIR/policy.yaml and OUT_DIR/keys/dev-ID.key (the folder 0700, each file 0600, 64
hex digits from os.urandom: real, distinct keys; --seed makes them reproducible instead, for
benchmarks only). The settings before 'devices:' come from --head (a policy file: everything
up to its 'devices:' line, e.g. tests/e2e/lib.sh's lg_policy_head) or a minimal head (port
and uadp_port; linegate itself also needs detection.model).

Device i (0-based) gets id FIRST_ID + i, name PREFIX-ID, the (i % H)-th host address of
--subnet (H its host count) and UDP port BASE_PORT + i // H, so every (address, port) pair is
distinct and, while N <= H, every address; MAC 02:4c:47:XX:XX:XX from i (--no-mac: none
bound). With --uadp-every K every K-th device (i % K == K - 1) is an OPC UA PubSub UADP
publisher (publisher_id = its id, writer_group 1, writer 1) with a typed RawData layout, a
Float array whose length cycles through --uadp-lengths: linegate-loadgen -u sends each its
own length. --sample-rate R[,R...] gives device i the sample_rate R[i % count] (a model
that records its rate refuses devices of another): linegate-loadgen sends each device's
frames at its policy rate.

OUT_DIR must hold no policy.yaml and no keys/ files yet (--force: replace them, every file in
its keys/ removed). A --head whose detection.model is a relative path gets that model and its .sig
copied into OUT_DIR, so that the new policy finds them as the old one did.
"""
import argparse
import hashlib
import ipaddress
import os
import re
import shutil
import sys

LG_POLICY_MAX_DEVICES = 4096


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("n", type=int)
    ap.add_argument("--head", help="a policy file whose settings before 'devices:' to use")
    ap.add_argument("--subnet", default="10.77.16.0/20",
                    help="source addresses (default 10.77.16.0/20: 4094 hosts)")
    ap.add_argument("--first-id", type=int, default=1000)
    ap.add_argument("--base-port", type=int, default=40000)
    ap.add_argument("--prefix", default="dev")
    ap.add_argument("--no-mac", action="store_true", help="bind no source MAC")
    ap.add_argument("--sample-rate", default="",
                    help="the devices' sample_rate, a list cycled over them (default: none)")
    ap.add_argument("--uadp-every", type=int, default=0, metavar="K")
    ap.add_argument("--uadp-lengths", default="64,128,256",
                    help="the UADP devices' Float array lengths, cycled")
    ap.add_argument("--seed", help="derive the keys from this text (reproducible; never on a line)")
    ap.add_argument("--force", action="store_true",
                    help="OUT_DIR may hold an earlier policy: replace it and its keys")
    a = ap.parse_args()

    old_keys = os.path.join(a.out_dir, "keys")
    if os.path.exists(os.path.join(a.out_dir, "policy.yaml")) or (
            os.path.isdir(old_keys) and os.listdir(old_keys)):
        if not a.force:
            sys.exit(f"make_policy: {a.out_dir} already holds a policy.yaml or key files (an "
                     f"earlier policy's keys would stay beside the new ones): give another "
                     f"folder, or --force to replace its policy.yaml and keys/")
        shutil.rmtree(old_keys, ignore_errors=True)

    if not 1 <= a.n <= LG_POLICY_MAX_DEVICES:
        sys.exit(f"make_policy: N must be 1..{LG_POLICY_MAX_DEVICES} (the XDP device table)")
    hosts = list(ipaddress.ip_network(a.subnet, strict=False).hosts())
    if not hosts:
        sys.exit(f"make_policy: {a.subnet} has no host addresses")
    if a.base_port + (a.n - 1) // len(hosts) > 65535:
        sys.exit("make_policy: too few addresses in --subnet for N devices from --base-port")
    if a.first_id < 1 or a.first_id + a.n - 1 >= 0xfff00000:
        sys.exit("make_policy: ids must be 1..0xffefffff (the loadgen's unknown ids are above)")
    lengths = [int(x) for x in a.uadp_lengths.split(",")]
    rates = [int(x) for x in a.sample_rate.split(",")] if a.sample_rate else []

    head = "version: 1\nport: 4739\nuadp_port: 4840\n"
    model = None
    if a.head:
        text = open(a.head).read()
        cut = text.find("\ndevices:")
        head = text[:cut + 1] if cut >= 0 else text
        m = re.search(r"^\s+model:\s*['\"]?([^\s'\"#]+)", head, re.M)
        if m and not os.path.isabs(m.group(1)):
            model = os.path.join(os.path.dirname(os.path.abspath(a.head)), m.group(1))
    keys = os.path.join(a.out_dir, "keys")
    os.makedirs(keys, exist_ok=True)
    os.chmod(keys, 0o700)
    out = [head.rstrip("\n") + "\n", "devices:\n"]
    u = 0
    for i in range(a.n):
        dev_id = a.first_id + i
        name = f"{a.prefix}-{dev_id}"
        if a.seed is not None:
            key = hashlib.sha256(f"{a.seed}/{dev_id}".encode()).hexdigest()
        else:
            key = os.urandom(32).hex()
        path = os.path.join(keys, f"{name}.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode())
        os.close(fd)
        addr = hosts[i % len(hosts)]
        out.append(f"  - id: {dev_id}\n    name: {name}\n    source: {addr}\n"
                   f"    port: {a.base_port + i // len(hosts)}\n")
        if not a.no_mac:
            out.append("    mac: 02:4c:47:%02x:%02x:%02x\n" % (i >> 16 & 255, i >> 8 & 255, i & 255))
        if rates:
            out.append(f"    sample_rate: {rates[i % len(rates)]}\n")
        out.append(f"    keys: [{{id: 1, key_file: keys/{name}.key}}]\n")
        if a.uadp_every and i % a.uadp_every == a.uadp_every - 1:
            n = lengths[u % len(lengths)]
            u += 1
            out.append(f"    uadp: {{publisher_id: {dev_id}, publisher_type: uint32, "
                       f"writer_group: 1, writer: 1,\n"
                       f"           fields: [{{name: accel, type: Float, array: {n}}}]}}\n")
    with open(os.path.join(a.out_dir, "policy.yaml"), "w") as f:
        f.writelines(out)
    # The head's relative detection.model (and its signature) where the new policy looks.
    if model:
        rel = os.path.relpath(model, os.path.dirname(os.path.abspath(a.head)))
        for src in (model, model + ".sig"):
            dst = os.path.join(a.out_dir, os.path.dirname(rel), os.path.basename(src))
            if os.path.exists(src) and not os.path.exists(dst):
                os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
                shutil.copy2(src, dst)
            elif not os.path.exists(src):
                print(f"make_policy: note: the head's detection.model {src} does not exist: "
                      f"put it at {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
