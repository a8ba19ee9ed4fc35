# Sourced by the admission scripts (tests/bpf/admit_e2e.sh, admit_restart.sh,
# bench/admit_flood.sh): namespaces $A and $B joined by veth a0 (10.77.0.1, MAC $MAC_A) and
# b0 (10.77.0.2, MAC $MAC_B), IPv6 off (its neighbour discovery would add frames the exact
# counters do not expect) and static neighbours (ARP is not what these tests are about).
# Optional argument: RX/TX queues per side.
veth_pair() {
	local queues=${1:-1} ns
	ip netns add "$A"
	ip netns add "$B"
	for ns in "$A" "$B"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip link add a0 netns "$A" address "$MAC_A" numtxqueues "$queues" numrxqueues "$queues" \
		type veth peer name b0 netns "$B" address "$MAC_B" numtxqueues "$queues" \
		numrxqueues "$queues"
	ip -n "$A" addr add 10.77.0.1/24 dev a0
	ip -n "$B" addr add 10.77.0.2/24 dev b0
	# Full UDP checksums from local senders, as a real NIC delivers them (AF_XDP checks).
	ip netns exec "$A" ethtool -K a0 tx off >/dev/null
	ip netns exec "$B" ethtool -K b0 tx off >/dev/null
	ip -n "$A" link set a0 up
	ip -n "$B" link set b0 up
	ip -n "$A" neigh replace 10.77.0.2 lladdr "$MAC_B" dev a0
	ip -n "$B" neigh replace 10.77.0.1 lladdr "$MAC_A" dev b0
}
