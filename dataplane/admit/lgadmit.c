// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "admit.skel.h"
#include "lgadmit.h"

struct lg_admit {
	struct admit_bpf *skel;
	int ncpus;
	int ifindex; /* 0: not attached */
	__u32 xdp_flags;
	lg_u64 generation;
};

int lg_admit_open(const struct lg_admit_opts *opts, struct lg_admit **out)
{
	struct lg_admit_opts dflt = {0};
	struct lg_admit *a;
	int err;

	if (!out)
		return -EINVAL;
	if (!opts)
		opts = &dflt;
	if (opts->default_not_ours > LG_ADMIT_NOT_OURS_PASS)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ncpus = libbpf_num_possible_cpus();
	if (a->ncpus <= 0) {
		err = a->ncpus ? a->ncpus : -EINVAL;
		goto err_free;
	}
	a->skel = admit_bpf__open();
	if (!a->skel) {
		err = -errno;
		goto err_free;
	}
	a->skel->rodata->lg_default_lgf_port =
	    opts->default_lgf_port ? opts->default_lgf_port : LGF_DEFAULT_PORT;
	a->skel->rodata->lg_default_not_ours = opts->default_not_ours;
	a->skel->rodata->lg_test_clock = opts->test_clock ? 1 : 0;
	if (opts->queues) {
		err = bpf_map__set_max_entries(a->skel->maps.lg_xsks, opts->queues);
		if (err)
			goto err_destroy;
	}
	if (opts->log_buf && opts->log_size) {
		/* Level 4 (BPF_LOG_STATS): instruction and state counts of a successful load. */
		err = bpf_program__set_log_buf(a->skel->progs.lg_admit, opts->log_buf,
					       opts->log_size);
		if (!err)
			err = bpf_program__set_log_level(a->skel->progs.lg_admit, 4);
		if (err)
			goto err_destroy;
	}
	err = admit_bpf__load(a->skel);
	if (err)
		goto err_destroy;
	*out = a;
	return 0;

err_destroy:
	admit_bpf__destroy(a->skel);
err_free:
	free(a);
	return err;
}

void lg_admit_close(struct lg_admit *a)
{
	if (!a)
		return;
	lg_admit_detach(a);
	admit_bpf__destroy(a->skel);
	free(a);
}

int lg_admit_prog_fd(const struct lg_admit *a)
{
	return bpf_program__fd(a->skel->progs.lg_admit);
}

int lg_admit_xsks_fd(const struct lg_admit *a)
{
	return bpf_map__fd(a->skel->maps.lg_xsks);
}

int lg_admit_attach(struct lg_admit *a, int ifindex, enum lg_admit_mode mode)
{
	__u32 flags = XDP_FLAGS_UPDATE_IF_NOEXIST;
	int err;

	if (ifindex <= 0)
		return -EINVAL;
	if (a->ifindex)
		return -EBUSY;
	if (mode == LG_ADMIT_MODE_NATIVE)
		flags |= XDP_FLAGS_DRV_MODE;
	else if (mode == LG_ADMIT_MODE_GENERIC)
		flags |= XDP_FLAGS_SKB_MODE;
	else
		return -EINVAL;
	/*
	 * Netlink attachment, not a bpf_link: admission must outlive the
	 * process that loaded it (fail static when the daemon dies).
	 */
	err = bpf_xdp_attach(ifindex, lg_admit_prog_fd(a), flags, NULL);
	if (err)
		return err;
	a->ifindex = ifindex;
	a->xdp_flags = flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST;
	return 0;
}

int lg_admit_detach(struct lg_admit *a)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = lg_admit_prog_fd(a));
	int err;

	if (!a->ifindex)
		return 0;
	/* old_prog_fd: never remove a program someone else attached meanwhile. */
	err = bpf_xdp_detach(a->ifindex, a->xdp_flags, &o);
	if (err && err != -ENODEV)
		return err;
	a->ifindex = 0;
	return 0;
}

static int entry_check(const struct lg_admit_entry *e)
{
	if (!e->device_id)
		return -EINVAL;
	if (e->dev.family != LG_ADMIT_AF_INET && e->dev.family != LG_ADMIT_AF_INET6)
		return -EINVAL;
	if (e->dev.rate && !e->dev.burst)
		return -EINVAL;
	return 0;
}

/*
 * Drop runtime state and counters of devices that are not in the table
 * behind table_fd: revoked devices must not hold capacity. Best effort.
 */
static void prune(int map_fd, int table_fd)
{
	struct lg_admit_dev dev;
	__u32 key, next;
	int more;

	more = !bpf_map_get_next_key(map_fd, NULL, &next);
	while (more) {
		key = next;
		more = !bpf_map_get_next_key(map_fd, &key, &next);
		if (bpf_map_lookup_elem(table_fd, &key, &dev))
			bpf_map_delete_elem(map_fd, &key);
	}
}

/* Fresh state for devices that have none; last_ns 0 starts the bucket full. */
static void state_seed(int state_fd, const struct lg_admit_entry *devs, size_t n)
{
	struct lg_admit_state fresh = {0};
	size_t i;

	for (i = 0; i < n; i++)
		bpf_map_update_elem(state_fd, &devs[i].device_id, &fresh, BPF_NOEXIST);
}

int lg_admit_apply(struct lg_admit *a, const struct lg_admit_cfg *cfg,
		   const struct lg_admit_entry *devs, size_t n, lg_u64 *generation)
{
	struct lg_admit_cfg c;
	__u32 slot, live;
	int table_fd, err;
	size_t i;

	if (!cfg || (n && !devs) || n > LG_ADMIT_MAX_DEVICES)
		return -EINVAL;
	if (cfg->not_ours > LG_ADMIT_NOT_OURS_PASS || !cfg->lgf_port ||
	    cfg->uadp_port == cfg->lgf_port)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = entry_check(&devs[i]);
		if (err)
			return err;
	}

	table_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "lg_devs", sizeof(__u32),
				  sizeof(struct lg_admit_dev), LG_ADMIT_MAX_DEVICES, NULL);
	if (table_fd < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		/* NOEXIST: a device listed twice is a policy bug, not a last-one-wins. */
		if (bpf_map_update_elem(table_fd, &devs[i].device_id, &devs[i].dev, BPF_NOEXIST)) {
			err = errno == EEXIST ? -EINVAL : -errno;
			goto err_close;
		}
	}
	state_seed(bpf_map__fd(a->skel->maps.lg_state), devs, n);

	live = __atomic_load_n(&a->skel->bss->lg_active_slot, __ATOMIC_ACQUIRE);
	slot = (live + 1) % LG_ADMIT_GEN_SLOTS;
	/*
	 * The kernel waits for an RCU grace period after updating a map-in-map
	 * slot, so when this returns no program still works with what the slot
	 * held before, and nobody reads the slot's config while we write it.
	 */
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.lg_gens), &slot, &table_fd, BPF_ANY)) {
		err = -errno;
		goto err_close;
	}
	c = *cfg;
	c.generation = a->generation + 1;
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.lg_gen_cfg), &slot, &c, BPF_ANY)) {
		err = -errno;
		goto err_close;
	}
	/* The switch: one aligned store into the mmapped .bss the program reads. */
	__atomic_store_n(&a->skel->bss->lg_active_slot, slot, __ATOMIC_RELEASE);
	a->generation = c.generation;
	if (generation)
		*generation = c.generation;

	prune(bpf_map__fd(a->skel->maps.lg_state), table_fd);
	prune(bpf_map__fd(a->skel->maps.lg_dev_ctr), table_fd);
	/* Seeding again fills what a full map refused before the prune made room. */
	state_seed(bpf_map__fd(a->skel->maps.lg_state), devs, n);
	close(table_fd);
	return 0;

err_close:
	close(table_fd);
	return err;
}

int lg_admit_read_reasons(struct lg_admit *a, struct lg_admit_reason_ctr *out)
{
	struct lg_admit_reason_ctr *v;
	__u32 r;
	int c, fd = bpf_map__fd(a->skel->maps.lg_reason_ctr);

	v = calloc((size_t)a->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (r = 0; r < LG_R_MAX; r++) {
		if (bpf_map_lookup_elem(fd, &r, v)) {
			free(v);
			return -errno;
		}
		memset(&out[r], 0, sizeof(out[r]));
		for (c = 0; c < a->ncpus; c++) {
			out[r].frames += v[c].frames;
			out[r].bytes += v[c].bytes;
			out[r].audited += v[c].audited;
		}
	}
	free(v);
	return 0;
}

int lg_admit_read_device(struct lg_admit *a, lg_u32 device_id, struct lg_admit_dev_ctr *out)
{
	struct lg_admit_dev_ctr *v;
	int c, err = 0;

	v = calloc((size_t)a->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.lg_dev_ctr), &device_id, v)) {
		err = -errno;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	for (c = 0; c < a->ncpus; c++) {
		out->admitted += v[c].admitted;
		out->dropped += v[c].dropped;
		out->audited += v[c].audited;
	}
out:
	free(v);
	return err;
}

int lg_admit_read_state(struct lg_admit *a, lg_u32 device_id, struct lg_admit_state *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.lg_state), &device_id, out))
		return -errno;
	return 0;
}

int lg_admit_reset_counters(struct lg_admit *a)
{
	struct lg_admit_reason_ctr *v;
	int fd = bpf_map__fd(a->skel->maps.lg_reason_ctr);
	__u32 r, key, next;
	int more, err = 0;

	v = calloc((size_t)a->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (r = 0; r < LG_R_MAX && !err; r++)
		if (bpf_map_update_elem(fd, &r, v, BPF_EXIST))
			err = -errno;
	free(v);
	if (err)
		return err;
	fd = bpf_map__fd(a->skel->maps.lg_dev_ctr);
	more = !bpf_map_get_next_key(fd, NULL, &next);
	while (more) {
		key = next;
		more = !bpf_map_get_next_key(fd, &key, &next);
		bpf_map_delete_elem(fd, &key);
	}
	return 0;
}

int lg_admit_export_seq(struct lg_admit *a, lg_u32 device_id, lg_u64 seq)
{
	int fd = bpf_map__fd(a->skel->maps.lg_state);
	struct lg_admit_state st;

	if (!device_id)
		return -EINVAL;
	/*
	 * Only devices of the live table have state; creating it here would
	 * let a confused caller fill the map for ids that are not enrolled.
	 *
	 * Read-modify-write of the whole value races with the program's bucket
	 * update; the bucket may lose or regain at most the tokens of the frames
	 * in between, which the next refill absorbs.
	 */
	if (bpf_map_lookup_elem(fd, &device_id, &st))
		return -errno;
	if (seq <= st.highest_seq)
		return 0;
	st.highest_seq = seq;
	if (bpf_map_update_elem(fd, &device_id, &st, BPF_EXIST))
		return -errno;
	return 0;
}

void lg_admit_set_test_clock(struct lg_admit *a, lg_u64 now_ns)
{
	__atomic_store_n(&a->skel->bss->lg_test_now_ns, now_ns, __ATOMIC_RELEASE);
}
