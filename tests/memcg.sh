# shellcheck shell=bash
# A memory cgroup of the caller's own, for tests and benchmarks of memory use (sourced):
# lg_memcg NAME sets cg (a child of this process's memory cgroup, v1 here, or v2 where its
# memory controller is enabled; not made yet), limit and peak (its files' names); returns 1
# when there is none this process may write.
lg_memcg() {
	local v1 v2
	v1=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
	v2=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
	if [ -n "$v1" ] && [ -w "/sys/fs/cgroup/memory$v1" ]; then
		cg=/sys/fs/cgroup/memory$v1/$1-$$
		limit=memory.limit_in_bytes peak=memory.max_usage_in_bytes
	elif grep -qw memory "$v2/cgroup.subtree_control" 2>/dev/null; then
		cg=$v2/$1-$$
		limit=memory.max peak=memory.peak
	else
		cg=
		return 1
	fi
}
