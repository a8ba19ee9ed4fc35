#!/usr/bin/env bash
# NATS JetStream output benchmark (docs/benchmarks.md): a nats-server of its own (-js, a free
# loopback port, its store in a temporary folder) and bench/nats_bench against it.
# Usage: bench/nats_bench.sh BUILD_DIR [RECORDS [RATE]]
set -euo pipefail
usage() {
	cat <<'TXT'
Usage: nats_bench.sh BUILD_DIR [RECORDS [RATE]]

Starts a nats-server of its own (-js, a free loopback port, its store in a temporary
folder) and runs BUILD_DIR/bench/nats_bench against it: RECORDS (20000) records through
js_PublishAsync and through linegate's NATS output with its outbox on disk, then RECORDS/4
at RATE (1000) per second for the latency to the stream's acknowledgement. One JSON line.

Exit status: 0 on success, 1 when a record was not acknowledged, 2 on a usage error, 77
when nats-server is not installed.
TXT
}
case "${1:-}" in
-h|--help) usage; exit 0 ;;
-*) echo "nats_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [RECORDS [RATE]]" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "SKIP: nats-server is not installed"; exit 77; }
build=$1
tmp=$(mktemp -d /tmp/lg-nats-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$port" -sd "$tmp/js" > "$tmp/nats.log" 2>&1 &
srv=$!
# nats-server ends with status 1 on SIGTERM: under errexit that would be this script's
# status, whatever nats_bench said.
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.1
done
"$build/bench/nats_bench" "nats://127.0.0.1:$port" "$tmp/outbox" "${2:-20000}" "${3:-1000}"
