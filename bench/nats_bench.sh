#!/usr/bin/env bash
# NATS JetStream output benchmark (docs/benchmarks.md): a nats-server of its own (-js, a free
# loopback port, its store in a temporary folder), or a 3-node JetStream cluster of its own
# (--cluster, routes and client ports on loopback), and bench/nats_bench against it.
# Usage: bench/nats_bench.sh [--cluster] BUILD_DIR [RECORDS [RATE]]
set -euo pipefail
usage() {
	cat <<'TXT'
Usage: nats_bench.sh [--cluster] BUILD_DIR [RECORDS [RATE]]

Starts a nats-server of its own (-js, a free loopback port, its store in a temporary
folder) and runs BUILD_DIR/bench/nats_bench against it: RECORDS (20000) records through
js_PublishAsync and through linegate's NATS output with its outbox on disk, then RECORDS/4
at RATE (1000) per second for the latency to the stream's acknowledgement. One JSON line.

  --cluster   three nats-server nodes in one JetStream cluster instead (routes and client
              ports on loopback), the stream with 3 replicas, the output given all three
              URLs

Exit status: 0 on success, 1 when a record was not acknowledged, 2 on a usage error, 77
when nats-server is not installed.
TXT
}
cluster=0
case "${1:-}" in
-h|--help) usage; exit 0 ;;
--cluster) cluster=1; shift ;;
-*) echo "nats_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
[ $# -ge 1 ] || { echo "usage: $0 [--cluster] BUILD_DIR [RECORDS [RATE]]" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "SKIP: nats-server is not installed"; exit 77; }
build=$1
tmp=$(mktemp -d /tmp/lg-nats-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
# nats-server ends with status 1 on SIGTERM: under errexit that would be this script's
# status, whatever nats_bench said.
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
wait_port() {
	for _ in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
if [ $cluster = 0 ]; then
	port=$(free_port)
	nats-server -js -a 127.0.0.1 -p "$port" -sd "$tmp/js" > "$tmp/nats.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
	urls=nats://127.0.0.1:$port replicas=1
else
	declare -a cp rp
	for n in 0 1 2; do cp[$n]=$(free_port); rp[$n]=$(free_port); done
	urls=
	for n in 0 1 2; do
		cat > "$tmp/n$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:${cp[$n]}
jetstream { store_dir: "$tmp/n$n" }
cluster {
  name: bench
  listen: 127.0.0.1:${rp[$n]}
  routes: [ nats-route://127.0.0.1:${rp[0]}, nats-route://127.0.0.1:${rp[1]}, nats-route://127.0.0.1:${rp[2]} ]
}
CONF
		nats-server -c "$tmp/n$n.conf" > "$tmp/n$n.log" 2>&1 &
		pids+=($!)
		urls=$urls${urls:+,}nats://127.0.0.1:${cp[$n]}
	done
	for n in 0 1 2; do wait_port "${cp[$n]}"; done
	for _ in $(seq 100); do grep -q "JetStream cluster new metadata leader" "$tmp"/n*.log && break; sleep 0.2; done
	replicas=3
fi
"$build/bench/nats_bench" "$urls" "$tmp/outbox" "${2:-20000}" "${3:-1000}" "$replicas"
