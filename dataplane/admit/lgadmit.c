// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

/* The skeleton's .bss holds structs of the contract: the contract first. */
#include "lgadmit.h"
#include "admit.skel.h"

/* Seeds tried before a table counts as unbuildable; full random tables need 1 to 3. */
#define TABLE_SEED_TRIES 64
#define BPFFS_ROOT "/sys/fs/bpf"

/* Where a device's runtime state and counters live; sorted by id. */
struct slot_ent {
	lg_u32 id;
	lg_u32 slot;
};

/* The objects a handle works on, in pin order; names are the file names under the pin dir. */
enum obj { O_PROG, O_RCTR, O_DCTR, O_XSKS, O_BSS, O_UADP, O_MAX };
static const char *const obj_name[O_MAX] = {"prog",    "lg_reason_ctr", "lg_dev_ctr",
					    "lg_xsks", "bss",		"lg_uadp_ids"};

struct lg_admit {
	struct admit_bpf *skel; /* NULL for a handle reopened from pins */
	int fd[O_MAX];		/* owned only when skel is NULL */
	/* .bss, mmapped: live slot, generations, runtime state (lg_state). */
	struct admit_bpf__bss *bss;
	struct lg_admit_state *state;
	size_t bss_len;
	int ncpus;
	int ifindex; /* netlink attachment, 0: none */
	__u32 xdp_flags;
	int link_fd; /* bpf_link attachment (pinned handles), -1: none */
	char *pin_dir;
	lg_u64 generation;
	/* A map-in-map of our own: updating it is how user space waits for running programs. */
	int sync_fd, sync_inner_fd;
	int sync_pending; /* a switch happened whose wait failed; wait before the next one */
	/* export_seq() and the readers look slots up while apply() may replace the index. */
	pthread_rwlock_t lock;
	struct slot_ent *slots;
	size_t nslots;
	lg_u8 slot_used[LG_ADMIT_STATE_SLOTS];
	struct lg_admit_table *table; /* scratch for building a generation */
	/*
	 * Per-slot counters of the datagrams the workers judged with lg_admit_charge() (they
	 * came as IP fragments, which XDP passed uncharged), atomics; added to the program's
	 * per-device counters by lg_admit_read_device().
	 */
	struct lg_admit_dev_ctr *uctr;
};

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static int handle_alloc(struct lg_admit **out)
{
	struct lg_admit *a = calloc(1, sizeof(*a));
	int i;

	if (!a)
		return -ENOMEM;
	for (i = 0; i < O_MAX; i++)
		a->fd[i] = -1;
	a->link_fd = -1;
	a->sync_fd = -1;
	a->sync_inner_fd = -1;
	a->table = malloc(sizeof(*a->table));
	a->slots = calloc(LG_ADMIT_MAX_DEVICES, sizeof(*a->slots));
	a->uctr = calloc(LG_ADMIT_STATE_SLOTS, sizeof(*a->uctr));
	if (!a->table || !a->slots || !a->uctr || pthread_rwlock_init(&a->lock, NULL)) {
		free(a->uctr);
		free(a->table);
		free(a->slots);
		free(a);
		return -ENOMEM;
	}
	a->ncpus = libbpf_num_possible_cpus();
	if (a->ncpus <= 0) {
		int err = a->ncpus ? a->ncpus : -EINVAL;

		pthread_rwlock_destroy(&a->lock);
		free(a->uctr);
		free(a->table);
		free(a->slots);
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

/*
 * After a map-in-map update the kernel waits for an RCU grace period before
 * it returns, so that user space knows every program still running then has
 * finished: a barrier against programs. The generations are plain .bss
 * arrays the program reaches by address (no map, no lookup per frame), so
 * apply() uses this one to know when nobody reads the slot it fills next.
 */
static int sync_open(struct lg_admit *a)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);

	a->sync_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lg_sync_in", 4, 4, 1, NULL);
	if (a->sync_inner_fd < 0)
		return -errno;
	o.inner_map_fd = a->sync_inner_fd;
	a->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "lg_sync", 4, 4, 1, &o);
	if (a->sync_fd < 0)
		return -errno;
	return 0;
}

static int sync_programs(struct lg_admit *a)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(a->sync_fd, &zero, &a->sync_inner_fd, BPF_ANY))
		return -errno;
	return 0;
}

static void skel_fds(struct lg_admit *a)
{
	struct admit_bpf *s = a->skel;

	a->fd[O_PROG] = bpf_program__fd(s->progs.lg_admit);
	a->fd[O_RCTR] = bpf_map__fd(s->maps.lg_reason_ctr);
	a->fd[O_DCTR] = bpf_map__fd(s->maps.lg_dev_ctr);
	a->fd[O_XSKS] = bpf_map__fd(s->maps.lg_xsks);
	a->fd[O_BSS] = bpf_map__fd(s->maps.bss);
	a->fd[O_UADP] = bpf_map__fd(s->maps.lg_uadp_ids);
	a->bss = s->bss;
	a->state = s->bss->lg_state;
}

/*
 * Can an XDP program call bpf_xdp_adjust_meta()? Some kernels (the project VM's 6.18) refuse
 * it to every XDP program with a message libbpf_probe_bpf_helper() does not recognise, so
 * load the smallest program that calls it.
 */
static lg_u8 xdp_meta_usable(void)
{
	/* r2 = -8; call bpf_xdp_adjust_meta (r1 is the context); r0 = XDP_PASS; exit */
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = -8},
	    {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_xdp_adjust_meta},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "lg_meta_probe", "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static lg_u8 xdp_meta_ok;
static pthread_once_t xdp_meta_once = PTHREAD_ONCE_INIT;

static void xdp_meta_probe_once(void)
{
	xdp_meta_ok = xdp_meta_usable();
}

/* Probed once a process: the loader and the start warning ask the same question. */
int lg_admit_arrival_stamps(void)
{
	pthread_once(&xdp_meta_once, xdp_meta_probe_once);
	return xdp_meta_ok;
}

static int pin_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Pins need a bpffs. A fresh system may not have one mounted at the usual
 * place yet; mount it there (only there: other paths are the caller's).
 */
static int bpffs_ensure(const char *dir)
{
	struct statfs sfs;

	if (strncmp(dir, BPFFS_ROOT "/", sizeof(BPFFS_ROOT)))
		return 0;
	if (statfs(BPFFS_ROOT, &sfs))
		return -errno;
	if (sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

static void unpin_all(const char *dir)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < O_MAX; i++)
		if (!pin_path(path, sizeof(path), dir, obj_name[i]))
			unlink(path);
	if (!pin_path(path, sizeof(path), dir, "link"))
		unlink(path);
	rmdir(dir);
}

static int pin_all(struct lg_admit *a, const char *dir)
{
	char path[PATH_MAX];
	int i, err;

	err = bpffs_ensure(dir);
	if (err)
		return err;
	/* The folder and its parents (the default is /sys/fs/bpf/linegate/IFNAME). */
	if (strlen(dir) >= sizeof(path))
		return -ENAMETOOLONG;
	strcpy(path, dir);
	for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < O_MAX; i++) {
		err = pin_path(path, sizeof(path), dir, obj_name[i]);
		/* EEXIST: another instance lives here; reopen it instead. */
		if (!err && bpf_obj_pin(a->fd[i], path))
			err = -errno;
		if (err) {
			while (i--)
				if (!pin_path(path, sizeof(path), dir, obj_name[i]))
					unlink(path);
			return err;
		}
	}
	return 0;
}

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
	err = handle_alloc(&a);
	if (err)
		return err;
	a->skel = admit_bpf__open();
	if (!a->skel) {
		err = -errno;
		goto err_free;
	}
	a->skel->rodata->lg_default_lgf_port =
	    opts->default_lgf_port ? opts->default_lgf_port : LGF_DEFAULT_PORT;
	a->skel->rodata->lg_default_not_ours = opts->default_not_ours;
	a->skel->rodata->lg_test_clock = opts->test_clock ? 1 : 0;
	a->skel->rodata->lg_xdp_meta = (lg_u8)lg_admit_arrival_stamps();
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
	skel_fds(a);
	err = sync_open(a);
	if (err)
		goto err_destroy;
	if (opts->pin_dir) {
		a->pin_dir = strdup(opts->pin_dir);
		if (!a->pin_dir) {
			err = -ENOMEM;
			goto err_destroy;
		}
		err = pin_all(a, a->pin_dir);
		if (err)
			goto err_destroy;
	}
	*out = a;
	return 0;

err_destroy:
	if (a->sync_fd >= 0)
		close(a->sync_fd);
	if (a->sync_inner_fd >= 0)
		close(a->sync_inner_fd);
	admit_bpf__destroy(a->skel);
err_free:
	free(a->pin_dir);
	pthread_rwlock_destroy(&a->lock);
	free(a->uctr);
	free(a->table);
	free(a->slots);
	free(a);
	return err;
}

static int slot_cmp(const void *x, const void *y)
{
	const struct slot_ent *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* Does a map have the shape this build expects? A pinned instance may come from another build. */
static int map_check(int fd, __u32 type, __u32 value_size, __u32 max_entries)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != type || info.value_size != value_size ||
	    (max_entries && info.max_entries != max_entries))
		return -EPROTO;
	return 0;
}

/* The slot index of the live generation, from its table (a reopened handle has nothing else). */
static int slots_from_live(struct lg_admit *a)
{
	__u32 live = __atomic_load_n(&a->bss->lg_live_gen, __ATOMIC_ACQUIRE), i;

	a->nslots = 0;
	a->generation = 0;
	memset(a->slot_used, 0, sizeof(a->slot_used));
	memcpy(a->table, &a->bss->lg_gens[live & 1], sizeof(*a->table));
	if (!a->table->cfg.generation)
		return 0;
	for (i = 0; i < LG_ADMIT_INDEX_SLOTS; i++) {
		if (!a->table->ids[i])
			continue;
		if (a->nslots == LG_ADMIT_MAX_DEVICES ||
		    a->table->devs[i].slot >= LG_ADMIT_STATE_SLOTS)
			return -EUCLEAN;
		a->slots[a->nslots].id = a->table->ids[i];
		a->slots[a->nslots].slot = a->table->devs[i].slot;
		a->slot_used[a->table->devs[i].slot] = 1;
		a->nslots++;
	}
	qsort(a->slots, a->nslots, sizeof(*a->slots), slot_cmp);
	a->generation = a->table->cfg.generation;
	return 0;
}

int lg_admit_open_pinned(const char *pin_dir, struct lg_admit **out)
{
	struct bpf_link_info info;
	char path[PATH_MAX];
	struct lg_admit *a;
	__u32 len;
	void *p;
	int i, err;

	if (!pin_dir || !out)
		return -EINVAL;
	err = handle_alloc(&a);
	if (err)
		return err;
	a->pin_dir = strdup(pin_dir);
	if (!a->pin_dir) {
		err = -ENOMEM;
		goto err_close;
	}
	for (i = 0; i < O_MAX; i++) {
		err = pin_path(path, sizeof(path), pin_dir, obj_name[i]);
		if (err)
			goto err_close;
		a->fd[i] = bpf_obj_get(path);
		if (a->fd[i] < 0) {
			err = -errno;
			goto err_close;
		}
	}
	/* Refuse an instance of another build: its maps would be read with the wrong layout. */
	err = map_check(a->fd[O_DCTR], BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(struct lg_admit_dev_ctr),
			LG_ADMIT_STATE_SLOTS);
	if (!err)
		err = map_check(a->fd[O_RCTR], BPF_MAP_TYPE_PERCPU_ARRAY,
				sizeof(struct lg_admit_reason_ctr) * LG_R_MAX, 1);
	if (!err)
		err = map_check(a->fd[O_BSS], BPF_MAP_TYPE_ARRAY, sizeof(struct admit_bpf__bss), 1);
	if (!err)
		err = map_check(a->fd[O_UADP], BPF_MAP_TYPE_HASH, sizeof(struct lg_admit_uadp_ids),
				LG_ADMIT_STATE_SLOTS);
	if (err)
		goto err_close;
	a->bss_len = page_round(sizeof(struct admit_bpf__bss));
	p = mmap(NULL, a->bss_len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd[O_BSS], 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	a->bss = p;
	a->state = a->bss->lg_state;
	err = sync_open(a);
	if (err)
		goto err_close;
	err = slots_from_live(a);
	if (err)
		goto err_close;
	/* The previous owner may have died between a switch and its wait. */
	a->sync_pending = 1;
	if (!pin_path(path, sizeof(path), pin_dir, "link")) {
		a->link_fd = bpf_obj_get(path);
		if (a->link_fd >= 0) {
			memset(&info, 0, sizeof(info));
			len = sizeof(info);
			if (!bpf_obj_get_info_by_fd(a->link_fd, &info, &len))
				a->ifindex = (int)info.xdp.ifindex;
		}
	}
	*out = a;
	return 0;

err_close:
	lg_admit_close(a);
	return err;
}

void lg_admit_close(struct lg_admit *a)
{
	int i;

	if (!a)
		return;
	/* A pinned link keeps admitting after we are gone: that is the point of pinning. */
	if (a->link_fd < 0)
		lg_admit_detach(a);
	else
		close(a->link_fd);
	if (a->sync_fd >= 0)
		close(a->sync_fd);
	if (a->sync_inner_fd >= 0)
		close(a->sync_inner_fd);
	if (a->skel) {
		admit_bpf__destroy(a->skel);
	} else {
		if (a->bss)
			munmap(a->bss, a->bss_len);
		for (i = 0; i < O_MAX; i++)
			if (a->fd[i] >= 0)
				close(a->fd[i]);
	}
	pthread_rwlock_destroy(&a->lock);
	free(a->pin_dir);
	free(a->uctr);
	free(a->table);
	free(a->slots);
	free(a);
}

int lg_admit_unpin(struct lg_admit *a)
{
	int err;

	if (!a->pin_dir)
		return -EINVAL;
	err = lg_admit_detach(a);
	if (err)
		return err;
	unpin_all(a->pin_dir);
	free(a->pin_dir);
	a->pin_dir = NULL;
	return 0;
}

int lg_admit_prog_fd(const struct lg_admit *a)
{
	return a->fd[O_PROG];
}

int lg_admit_xsks_fd(const struct lg_admit *a)
{
	return a->fd[O_XSKS];
}

int lg_admit_ifindex(const struct lg_admit *a)
{
	return a->ifindex;
}

lg_u64 lg_admit_generation(const struct lg_admit *a)
{
	return a->generation;
}

static int attach_link(struct lg_admit *a, int ifindex, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = flags);
	char path[PATH_MAX];
	int fd, err;

	err = pin_path(path, sizeof(path), a->pin_dir, "link");
	if (err)
		return err;
	fd = bpf_link_create(a->fd[O_PROG], ifindex, BPF_XDP, &o);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		bpf_link_detach(fd);
		close(fd);
		return err;
	}
	a->link_fd = fd;
	return 0;
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
	if (a->pin_dir) {
		/* A pinned bpf_link outlives this process and cannot be replaced by accident. */
		err = attach_link(a, ifindex, flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST);
	} else {
		/*
		 * Netlink attachment, not a bpf_link: admission must outlive the
		 * process that loaded it (fail static when the daemon dies).
		 */
		err = bpf_xdp_attach(ifindex, a->fd[O_PROG], flags, NULL);
	}
	if (err)
		return err;
	a->ifindex = ifindex;
	a->xdp_flags = flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST;
	return 0;
}

int lg_admit_probe(int ifindex, struct lg_admit_iface *out)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info;
	__u32 len = sizeof(info), ids[8], nmaps;
	int fd, err;

	memset(out, 0, sizeof(*out));
	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	out->prog_id = q.prog_id ? q.prog_id : q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
	if (!out->prog_id)
		return 0;
	out->generic = q.attach_mode == XDP_ATTACHED_SKB || out->prog_id == q.skb_prog_id;
	fd = bpf_prog_get_fd_by_id(out->prog_id);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 8;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	snprintf(out->name, sizeof(out->name), "%s", info.name);
	nmaps = info.nr_map_ids < 8 ? info.nr_map_ids : 8;
	/* Ours: the program's name, and the maps only our program has (by name). */
	if (!strcmp(info.name, "lg_admit")) {
		unsigned found = 0;

		for (__u32 i = 0; i < nmaps; i++) {
			struct bpf_map_info mi;
			__u32 ml = sizeof(mi);
			int mfd = bpf_map_get_fd_by_id(ids[i]);

			if (mfd < 0)
				continue;
			memset(&mi, 0, sizeof(mi));
			if (!bpf_obj_get_info_by_fd(mfd, &mi, &ml) &&
			    (!strcmp(mi.name, obj_name[O_RCTR]) ||
			     !strcmp(mi.name, obj_name[O_DCTR])))
				found++;
			close(mfd);
		}
		out->ours = found == 2;
	}
	return 0;
}

int lg_admit_attach_replace(struct lg_admit *a, int ifindex, enum lg_admit_mode mode,
			    lg_u32 prog_id)
{
	struct lg_admit_iface now;
	int old_fd, err;

	err = lg_admit_probe(ifindex, &now);
	if (err)
		return err;
	if (now.prog_id != prog_id || !now.ours)
		return now.prog_id ? -EBUSY : lg_admit_attach(a, ifindex, mode);
	old_fd = bpf_prog_get_fd_by_id(prog_id);
	if (old_fd < 0)
		return -errno;
	if (!a->pin_dir && now.generic == (mode == LG_ADMIT_MODE_GENERIC)) {
		/* One netlink request: the interface is never without admission. */
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old_fd);
		__u32 flags = XDP_FLAGS_REPLACE | (mode == LG_ADMIT_MODE_NATIVE ?
						     XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);

		err = bpf_xdp_attach(ifindex, a->fd[O_PROG], flags, &o);
		if (!err) {
			a->ifindex = ifindex;
			a->xdp_flags = flags & ~XDP_FLAGS_REPLACE;
		}
	} else {
		/* A bpf_link cannot take a netlink attachment's place: detach the stale one
		 * (only if it is still the one we found), then attach. */
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old_fd);

		err = bpf_xdp_detach(ifindex, now.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
				     &o);
		if (!err)
			err = lg_admit_attach(a, ifindex, mode);
	}
	close(old_fd);
	return err;
}

int lg_admit_detach(struct lg_admit *a)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = a->fd[O_PROG]);
	char path[PATH_MAX];
	int err;

	if (a->link_fd >= 0) {
		if (bpf_link_detach(a->link_fd) && errno != ENOLINK && errno != ENOENT)
			return -errno;
		close(a->link_fd);
		a->link_fd = -1;
		if (a->pin_dir && !pin_path(path, sizeof(path), a->pin_dir, "link"))
			unlink(path);
		a->ifindex = 0;
		return 0;
	}
	if (!a->ifindex)
		return 0;
	/* old_prog_fd: never remove a program someone else attached meanwhile. */
	err = bpf_xdp_detach(a->ifindex, a->xdp_flags, &o);
	if (err && err != -ENODEV)
		return err;
	a->ifindex = 0;
	return 0;
}

/* The entries' UADP identities, sorted; -EINVAL if two devices share one. */
static int uadp_keys_sorted(const struct lg_admit_entry *devs, size_t n,
			    struct lg_admit_uadp_key *keys, size_t *nkeys)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (devs[i].has_uadp)
			keys[k++] = devs[i].uadp;
	if (k)
		qsort(keys, k, sizeof(*keys), lg_admit_uadp_key_cmp);
	for (i = 1; i < k; i++)
		if (!lg_admit_uadp_key_cmp(&keys[i - 1], &keys[i]))
			return -EINVAL;
	*nkeys = k;
	return 0;
}

/*
 * Point every identity at its device in the entries' index `slot` of the
 * generation about to go live (generation & 1) and every identity it drops
 * at none. The live generation's entries stay as they are: frames keep
 * seeing its identities until the switch. The dropped identities are
 * returned in *stale (malloc'd) for uadp_prune() after the switch. A key
 * whose device is not in the live table maps to nothing a frame can use.
 */
static int uadp_stage(struct lg_admit *a, const struct lg_admit_entry *devs, size_t n,
		      const struct lg_admit_uadp_key *keys, size_t nkeys, __u32 slot,
		      struct lg_admit_uadp_key **stale, size_t *nstale)
{
	struct lg_admit_uadp_key cur, next, *st = NULL;
	struct lg_admit_uadp_ids ids;
	size_t i, ns = 0, cap = 0;
	void *prev = NULL;
	int err = 0;

	*stale = NULL;
	*nstale = 0;
	/* Identities in the map that the new generation does not have. */
	while (!bpf_map_get_next_key(a->fd[O_UADP], prev, &next)) {
		cur = next;
		prev = &cur;
		if (nkeys && bsearch(&cur, keys, nkeys, sizeof(*keys), lg_admit_uadp_key_cmp))
			continue;
		if (ns == cap) {
			void *t = realloc(st, (cap ? cap * 2 : 64) * sizeof(*st));

			if (!t) {
				err = -ENOMEM;
				goto err;
			}
			st = t;
			cap = cap ? cap * 2 : 64;
		}
		st[ns++] = cur;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto err;
	}
	for (i = 0; i < ns; i++) {
		if (bpf_map_lookup_elem(a->fd[O_UADP], &st[i], &ids))
			continue;
		ids.device_id[slot] = 0;
		if (bpf_map_update_elem(a->fd[O_UADP], &st[i], &ids, BPF_EXIST) &&
		    errno != ENOENT) {
			err = -errno;
			goto err;
		}
	}
	for (i = 0; i < n; i++) {
		if (!devs[i].has_uadp)
			continue;
		if (bpf_map_lookup_elem(a->fd[O_UADP], &devs[i].uadp, &ids))
			memset(&ids, 0, sizeof(ids));
		ids.device_id[slot] = devs[i].device_id;
		if (bpf_map_update_elem(a->fd[O_UADP], &devs[i].uadp, &ids, BPF_ANY)) {
			err = -errno;
			goto err;
		}
	}
	*stale = st;
	*nstale = ns;
	return 0;
err:
	free(st);
	return err;
}

/*
 * After the switch to the generation of index `live` (generation & 1) and
 * the wait for programs still on the previous one: identities the live
 * generation does not have leave the map.
 */
static void uadp_prune(struct lg_admit *a, const struct lg_admit_uadp_key *stale, size_t n,
		       __u32 live)
{
	struct lg_admit_uadp_ids ids;

	for (size_t i = 0; i < n; i++)
		if (!bpf_map_lookup_elem(a->fd[O_UADP], &stale[i], &ids) && !ids.device_id[live])
			bpf_map_delete_elem(a->fd[O_UADP], &stale[i]);
}

/* Slot of id in the live index, or -1. Caller holds the lock. */
static int slot_find(const struct lg_admit *a, lg_u32 id)
{
	struct slot_ent key = {.id = id}, *e;

	e = bsearch(&key, a->slots, a->nslots, sizeof(*a->slots), slot_cmp);
	return e ? (int)e->slot : -1;
}

/*
 * Fill a->table with devs under a fresh seed. Devices of the live generation
 * keep their slots; new ones take slots that no live device holds. new_slot
 * flags the slots taken here. -EINVAL for a duplicate id.
 */
static int table_build(struct lg_admit *a, const struct lg_admit_entry *devs, size_t n,
		       struct slot_ent *next, lg_u8 *new_slot)
{
	struct lg_admit_dev d;
	lg_u32 seed, free_slot = 0;
	size_t i;
	int tries, r, s;

	memset(new_slot, 0, LG_ADMIT_STATE_SLOTS);
	for (i = 0; i < n; i++) {
		s = slot_find(a, devs[i].device_id);
		if (s < 0) {
			while (free_slot < LG_ADMIT_STATE_SLOTS &&
			       (a->slot_used[free_slot] || new_slot[free_slot]))
				free_slot++;
			/* Live + new devices never exceed twice the table size. */
			if (free_slot == LG_ADMIT_STATE_SLOTS)
				return -ENOSPC;
			s = (int)free_slot;
			new_slot[s] = 1;
		}
		next[i].id = devs[i].device_id;
		next[i].slot = (lg_u32)s;
	}
	for (tries = 0; tries < TABLE_SEED_TRIES; tries++) {
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			return -errno;
		memset(a->table, 0, sizeof(*a->table));
		a->table->seed = seed;
		for (i = 0, r = 0; i < n && !r; i++) {
			d = devs[i].dev;
			d.slot = next[i].slot;
			r = lg_admit_table_insert(a->table, devs[i].device_id, &d);
		}
		/* A device listed twice is a policy bug, not a last-one-wins. */
		if (r == -1)
			return -EINVAL;
		if (!r)
			return 0;
	}
	return -ENOSPC;
}

int lg_admit_apply(struct lg_admit *a, const struct lg_admit_cfg *cfg,
		   const struct lg_admit_entry *devs, size_t n, lg_u64 *generation)
{
	struct lg_admit_uadp_key *keys = NULL, *stale = NULL;
	struct lg_admit_dev_ctr *zero_ctr = NULL;
	struct slot_ent *next = NULL;
	size_t nkeys = 0, nstale = 0;
	lg_u8 *new_slot;
	__u32 live, slot, s;
	int err;
	size_t i;

	if (!cfg || (n && !devs) || n > LG_ADMIT_MAX_DEVICES)
		return -EINVAL;
	if (cfg->not_ours > LG_ADMIT_NOT_OURS_PASS || !cfg->lgf_port ||
	    cfg->uadp_port == cfg->lgf_port)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = lg_admit_entry_check(&devs[i]);
		if (err)
			return err;
	}
	if (a->sync_pending) {
		err = sync_programs(a);
		if (err)
			return err;
		a->sync_pending = 0;
	}
	new_slot = calloc(1, LG_ADMIT_STATE_SLOTS);
	next = calloc(LG_ADMIT_MAX_DEVICES, sizeof(*next));
	zero_ctr = calloc((size_t)a->ncpus, sizeof(*zero_ctr));
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!new_slot || !next || !zero_ctr || !keys) {
		err = -ENOMEM;
		goto out;
	}
	err = uadp_keys_sorted(devs, n, keys, &nkeys);
	if (err)
		goto out;
	err = table_build(a, devs, n, next, new_slot);
	if (err)
		goto out;
	a->table->cfg = *cfg;
	a->table->cfg.generation = a->generation + 1;

	/*
	 * New devices start fresh: full bucket (last_ns 0), nothing verified,
	 * no counts. No program touches these slots: their previous owners
	 * left with an earlier switch, and every switch waits until no program
	 * still runs on the generation it replaced (below). Nor does any
	 * program see them before the switch.
	 */
	for (s = 0; s < LG_ADMIT_STATE_SLOTS; s++) {
		if (!new_slot[s])
			continue;
		memset(&a->state[s], 0, sizeof(a->state[s]));
		memset(&a->uctr[s], 0, sizeof(a->uctr[s]));
		if (bpf_map_update_elem(a->fd[O_DCTR], &s, zero_ctr, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}

	/*
	 * Fill the slot that is not live. Nobody reads it: it went out of use
	 * with the previous switch, which waited for the programs still on it.
	 */
	live = __atomic_load_n(&a->bss->lg_live_gen, __ATOMIC_ACQUIRE) & 1;
	slot = live ^ 1;
	/*
	 * UADP identities of the new generation, in the map entries' slot for
	 * it; until the switch no frame reads those. Should this fail, nothing
	 * live has changed (and the next apply rewrites the slot).
	 */
	err = uadp_stage(a, devs, n, keys, nkeys, (__u32)(a->table->cfg.generation & 1), &stale,
			 &nstale);
	if (err)
		goto out;
	memcpy(&a->bss->lg_gens[slot], a->table, sizeof(*a->table));
	/* The switch: from the next frame on, the new generation whole. */
	__atomic_store_n(&a->bss->lg_live_gen, slot, __ATOMIC_RELEASE);
	/*
	 * Wait for frames still on the old generation, so that the next apply
	 * may fill its slot and hand the slots of departed devices to new ones.
	 * Should the wait fail, the next apply waits first.
	 */
	a->sync_pending = 1;
	if (!sync_programs(a))
		a->sync_pending = 0;
	/* Only once no frame still reads the old slot; else the next apply prunes them. */
	if (!a->sync_pending)
		uadp_prune(a, stale, nstale, (__u32)(a->table->cfg.generation & 1));

	/* Departed devices release their slots; state and counters go with them. */
	qsort(next, n, sizeof(*next), slot_cmp);
	pthread_rwlock_wrlock(&a->lock);
	memcpy(a->slots, next, n * sizeof(*next));
	a->nslots = n;
	memset(a->slot_used, 0, sizeof(a->slot_used));
	for (i = 0; i < n; i++)
		a->slot_used[next[i].slot] = 1;
	a->generation = a->table->cfg.generation;
	pthread_rwlock_unlock(&a->lock);
	if (generation)
		*generation = a->generation;
	err = 0;
out:
	free(stale);
	free(keys);
	free(zero_ctr);
	free(next);
	free(new_slot);
	return err;
}

int lg_admit_read_reasons(struct lg_admit *a, struct lg_admit_reason_ctr *out)
{
	struct lg_admit_reason_ctr *v;
	__u32 zero = 0;
	int c, r;

	/* One element per CPU holding every reason. */
	v = calloc((size_t)a->ncpus * LG_R_MAX, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(a->fd[O_RCTR], &zero, v)) {
		free(v);
		return -errno;
	}
	memset(out, 0, sizeof(*out) * LG_R_MAX);
	for (c = 0; c < a->ncpus; c++) {
		for (r = 0; r < LG_R_MAX; r++) {
			const struct lg_admit_reason_ctr *x = &v[(size_t)c * LG_R_MAX + (size_t)r];

			out[r].frames += x->frames;
			out[r].bytes += x->bytes;
			out[r].audited += x->audited;
		}
	}
	free(v);
	return 0;
}

int lg_admit_read_device(struct lg_admit *a, lg_u32 device_id, struct lg_admit_dev_ctr *out)
{
	struct lg_admit_dev_ctr *v;
	int c, s, err = 0;
	__u32 key;

	pthread_rwlock_rdlock(&a->lock);
	s = slot_find(a, device_id);
	pthread_rwlock_unlock(&a->lock);
	if (s < 0)
		return -ENOENT;
	key = (__u32)s;
	v = calloc((size_t)a->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(a->fd[O_DCTR], &key, v)) {
		err = -errno;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	for (c = 0; c < a->ncpus; c++) {
		out->admitted += v[c].admitted;
		out->dropped += v[c].dropped;
		out->audited += v[c].audited;
		out->rate_limited += v[c].rate_limited;
	}
	out->admitted += __atomic_load_n(&a->uctr[s].admitted, __ATOMIC_RELAXED);
	out->dropped += __atomic_load_n(&a->uctr[s].dropped, __ATOMIC_RELAXED);
	out->audited += __atomic_load_n(&a->uctr[s].audited, __ATOMIC_RELAXED);
	out->rate_limited += __atomic_load_n(&a->uctr[s].rate_limited, __ATOMIC_RELAXED);
	/* Counters exist from a device's first frame on, as they did in a hash map. */
	if (!out->admitted && !out->dropped && !out->audited)
		err = -ENOENT;
out:
	free(v);
	return err;
}

int lg_admit_read_state(struct lg_admit *a, lg_u32 device_id, struct lg_admit_state *out)
{
	int s;

	pthread_rwlock_rdlock(&a->lock);
	s = slot_find(a, device_id);
	if (s >= 0) {
		out->tokens = __atomic_load_n(&a->state[s].tokens, __ATOMIC_RELAXED);
		out->last_ns = __atomic_load_n(&a->state[s].last_ns, __ATOMIC_RELAXED);
		out->highest_seq = __atomic_load_n(&a->state[s].highest_seq, __ATOMIC_RELAXED);
		out->jiffy = __atomic_load_n(&a->state[s].jiffy, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&a->lock);
	return s < 0 ? -ENOENT : 0;
}

int lg_admit_reset_counters(struct lg_admit *a)
{
	void *v;
	__u32 zero = 0, s;
	int err = 0;

	/* Large enough for a reason element (all reasons) and a device element per CPU. */
	v = calloc((size_t)a->ncpus * LG_R_MAX, sizeof(struct lg_admit_reason_ctr));
	if (!v)
		return -ENOMEM;
	if (bpf_map_update_elem(a->fd[O_RCTR], &zero, v, BPF_EXIST))
		err = -errno;
	pthread_rwlock_rdlock(&a->lock);
	for (s = 0; s < LG_ADMIT_STATE_SLOTS && !err; s++)
		if (a->slot_used[s] && bpf_map_update_elem(a->fd[O_DCTR], &s, v, BPF_EXIST))
			err = -errno;
	memset(a->uctr, 0, LG_ADMIT_STATE_SLOTS * sizeof(*a->uctr));
	pthread_rwlock_unlock(&a->lock);
	free(v);
	return err;
}

int lg_admit_export_seq(struct lg_admit *a, lg_u32 device_id, lg_u64 seq)
{
	lg_u64 cur, *p;
	int s;

	if (!device_id)
		return -EINVAL;
	/*
	 * Only devices of the live table have a slot. The program never writes
	 * highest_seq, so a compare-and-swap on that one field is all it takes:
	 * no system call, no race with the bucket next to it.
	 */
	pthread_rwlock_rdlock(&a->lock);
	s = slot_find(a, device_id);
	if (s >= 0) {
		p = &a->state[s].highest_seq;
		cur = __atomic_load_n(p, __ATOMIC_RELAXED);
		while (seq > cur && !__atomic_compare_exchange_n(p, &cur, seq, 0, __ATOMIC_RELAXED,
								 __ATOMIC_RELAXED))
			;
	}
	pthread_rwlock_unlock(&a->lock);
	return s < 0 ? -ENOENT : 0;
}

int lg_admit_charge(struct lg_admit *a, lg_u32 device_id, lg_u64 now_ns,
		    struct lg_admit_verdict *v)
{
	const struct lg_admit_table *t;
	const struct lg_admit_dev *dev;
	struct lg_admit_dev_ctr *c;
	int r = -ENOENT;

	v->pass = 1;
	v->reason = LG_R_ADMITTED;
	v->audited = 0;
	v->pad = 0;
	if (!device_id || !a->bss)
		return -EINVAL;
	/*
	 * The lock keeps apply() from handing this device's slot to another while the bucket
	 * is charged (slots change hands only under the write lock, after the switch).
	 */
	pthread_rwlock_rdlock(&a->lock);
	t = &a->bss->lg_gens[__atomic_load_n(&a->bss->lg_live_gen, __ATOMIC_ACQUIRE) & 1];
	dev = t->cfg.generation ? lg_admit_table_find(t, device_id) : NULL;
	if (dev && dev->slot < LG_ADMIT_STATE_SLOTS && a->slot_used[dev->slot]) {
		/*
		 * The program's bucket, exactly as XDP charges an unfragmented frame, but with
		 * tick 0: the refill gate stays shut until XDP's next clocked refill (a user
		 * tick is not a jiffy). Unlocked against the program, as two CPUs are
		 * (lg_admit_state: at most a frame gained or a refill lost in a race).
		 */
		int ok = lg_admit_bucket_ok(&a->state[dev->slot], dev, now_ns, 0);

		v->pass = 0;
		lg_admit_verdict_dev(dev, ok ? LG_R_ADMITTED : LG_R_RATE_LIMITED, v);
		c = &a->uctr[dev->slot];
		if (v->reason == LG_R_ADMITTED)
			__atomic_fetch_add(&c->admitted, 1, __ATOMIC_RELAXED);
		else if (v->reason == LG_R_AUDIT)
			__atomic_fetch_add(&c->audited, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&c->dropped, 1, __ATOMIC_RELAXED);
		if (!ok)
			__atomic_fetch_add(&c->rate_limited, 1, __ATOMIC_RELAXED);
		r = 0;
	}
	pthread_rwlock_unlock(&a->lock);
	return r;
}

int lg_admit_reset_seq(struct lg_admit *a, lg_u32 device_id, lg_u64 seq)
{
	int s;

	if (!device_id)
		return -EINVAL;
	pthread_rwlock_rdlock(&a->lock);
	s = slot_find(a, device_id);
	if (s >= 0)
		__atomic_store_n(&a->state[s].highest_seq, seq, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&a->lock);
	return s < 0 ? -ENOENT : 0;
}

int lg_admit_set_xsk_readers(struct lg_admit *a, int on)
{
	if (!a || !a->bss)
		return -EINVAL;
	__atomic_store_n(&a->bss->lg_xsk_readers, on ? 1u : 0u, __ATOMIC_RELEASE);
	return 0;
}

int lg_admit_xsk_readers(const struct lg_admit *a)
{
	return a && a->bss ? (int)__atomic_load_n(&a->bss->lg_xsk_readers, __ATOMIC_ACQUIRE) : 0;
}

int lg_admit_xsk_unbind(struct lg_admit *a, unsigned nqueues)
{
	int err = 0;

	if (!a)
		return -EINVAL;
	for (__u32 q = 0; q < nqueues; q++)
		if (bpf_map_delete_elem(a->fd[O_XSKS], &q) && errno != ENOENT && !err)
			err = -errno;
	if (err)
		return err;
	return sync_programs(a);
}

void lg_admit_set_test_clock(struct lg_admit *a, lg_u64 now_ns)
{
	__atomic_store_n(&a->bss->lg_test_jiffies, lg_admit_jiffy(now_ns), __ATOMIC_RELAXED);
	__atomic_store_n(&a->bss->lg_test_now_ns, now_ns, __ATOMIC_RELEASE);
}
