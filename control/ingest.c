// SPDX-License-Identifier: MIT
/* Recordings into per-device sample streams (include/linegate/ingest.h). */
#include <linegate/admit.h>
#include <linegate/backend.h>
#include <linegate/frame.h>
#include <linegate/ingest.h>
#include <linegate/policy.h>
#include <linegate/uadp.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include <openssl/evp.h>
#include <sndfile.h>
#ifdef LG_HAVE_PCAP
#include <pcap/pcap.h>
#endif

#define MAX_FILE_BYTES (4ull << 30)
#define LG_BURST_INGEST 64
#define LG_UADP_CLEAR_CAP 65536

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *ext_of(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

	if (!dot || (slash && dot < slash))
		return "";
	/* a recording still being written (docs/recording.md): NAME.pcapng.part */
	if (!strcmp(dot, ".part")) {
		const char *d2 = dot;

		while (d2 > path && d2[-1] != '.' && d2[-1] != '/')
			d2--;
		if (d2 > path && d2[-1] == '.' && !strncmp(d2, "pcapng.", 7))
			return "pcapng";
	}
	return dot + 1;
}

int lg_ingest_is_capture(const char *path)
{
	const char *ext = ext_of(path);

	return !strcasecmp(ext, "pcap") || !strcasecmp(ext, "pcapng") || !strcasecmp(ext, "cap");
}

int lg_ingest_capture_start(const char *path, uint64_t *ns)
{
#ifdef LG_HAVE_PCAP
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO,
							    errbuf);
	int rc;

	if (!p)
		return -1;
	rc = pcap_next_ex(p, &h, &data);
	if (rc == 1)
		*ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
	pcap_close(p);
	return rc == 1 ? 0 : -1;
#else
	(void)path;
	(void)ns;
	return -1;
#endif
}

void lg_ingest_stem(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b ? b + 1 : path;
	n = strcspn(b, ".");
	if (!n)
		n = strlen(b);
	snprintf(out, len, "%.*s", (int)(n < len - 1 ? n : len - 1), b);
}

/* ---- the set ---- */

/* A message of device name failed its tag or signature: counted, and by device. */
static void bad_tag(struct lg_ingest *in, const char *name)
{
	struct lg_ingest_stats *st = &in->st;

	st->bad_tag++;
	for (unsigned i = 0; i < st->nbad_dev; i++)
		if (!strcmp(st->bad_dev[i].name, name)) {
			st->bad_dev[i].n++;
			return;
		}
	if (st->nbad_dev < sizeof(st->bad_dev) / sizeof(st->bad_dev[0])) {
		snprintf(st->bad_dev[st->nbad_dev].name, LG_INGEST_NAME_MAX, "%s", name);
		st->bad_dev[st->nbad_dev++].n = 1;
	}
}

/* A frame of device name left out by opts.only: counted, and the name kept (labels of the
 * recording's other devices are not typos). */
static int left_out(struct lg_ingest *in, const char *name)
{
	char (*o)[LG_INGEST_NAME_MAX];

	in->st.other_device++;
	if (lg_ingest_left_out(in, name))
		return 0;
	o = realloc(in->other, sizeof(*o) * (in->nother + 1));
	if (!o)
		return -ENOMEM;
	in->other = o;
	snprintf(o[in->nother++], LG_INGEST_NAME_MAX, "%s", name);
	return 0;
}

int lg_ingest_left_out(const struct lg_ingest *in, const char *name)
{
	/* newest first: frames come in runs of a device */
	for (size_t i = in->nother; i-- > 0;)
		if (!strcmp(in->other[i], name))
			return 1;
	return 0;
}

static int add_file_name(struct lg_ingest *in, const char *path)
{
	char **f = realloc(in->files, sizeof(*f) * (in->nfiles + 1));

	if (!f)
		return -ENOMEM;
	in->files = f;
	f[in->nfiles] = strdup(path);
	if (!f[in->nfiles])
		return -ENOMEM;
	in->nfiles++;
	return 0;
}

struct lg_ingest_dev *lg_ingest_find(struct lg_ingest *in, const char *name)
{
	for (size_t i = 0; i < in->ndev; i++)
		if (!strcmp(in->dev[i].name, name))
			return &in->dev[i];
	return NULL;
}

/* The device called name, made if new; a known one must keep its rate and channels. */
static struct lg_ingest_dev *get_dev(struct lg_ingest *in, const char *name, double rate,
				     unsigned channels, const char *where, char *err,
				     size_t errlen)
{
	struct lg_ingest_dev *d = lg_ingest_find(in, name), *nd;

	if (d) {
		if (d->rate != rate || d->channels != channels) {
			/* within one file (a machine that changed its layout while recorded:
			 * trial W3, s25, said "here" and "in the same file before") */
			bool same = d->first_file == in->nfiles - 1;

			seterr(err, errlen, "%s: device %s: %g Hz x %u channels here, %g Hz x %u "
			       "channels %s%s before%s", where, name, rate, channels, d->rate,
			       d->channels, same ? "earlier in this file" : "in ",
			       same ? "" : in->files[d->first_file], same ? ": the device changed "
			       "its rate or layout while it was recorded; a detector reads one: "
			       "train on a recording made after the change" : "");
			return NULL;
		}
		return d;
	}
	if (!(rate > 0) || !isfinite(rate) || !channels || channels > LG_INGEST_MAX_CHANNELS) {
		seterr(err, errlen, "%s: device %s: %g Hz x %u channels is not a stream "
		       "linegate can window (rate > 0, 1..%d channels)", where, name, rate,
		       channels, LG_INGEST_MAX_CHANNELS);
		return NULL;
	}
	nd = realloc(in->dev, sizeof(*nd) * (in->ndev + 1));
	if (!nd) {
		seterr(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	in->dev = nd;
	d = &nd[in->ndev++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	/* (its first frame may be dropped before it has a segment: say this file, not the
	 * first of all) */
	d->first_file = in->nfiles ? (unsigned)in->nfiles - 1 : 0;
	d->rate = rate;
	d->channels = channels;
	return d;
}

static struct lg_ingest_seg *new_seg(struct lg_ingest_dev *d, double t0, unsigned file)
{
	struct lg_ingest_seg *s = realloc(d->seg, sizeof(*s) * (d->nseg + 1));

	if (!s)
		return NULL;
	d->seg = s;
	s = &s[d->nseg++];
	memset(s, 0, sizeof(*s));
	s->t0 = t0;
	s->file = file;
	s->file_last = file;
	return s;
}

static void note(struct lg_ingest *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const char *lg_ingest_spill_dir(const struct lg_ingest *in)
{
	const char *t = getenv("TMPDIR");

	return in->spill_dir ? in->spill_dir : t && *t ? t : "/var/tmp";
}

/* A buffer of bytes, reserved on the disk: an unlinked file in the spill folder, mapped
 * shared. posix_fallocate() takes the blocks now, so a full disk is an error here and not a
 * SIGBUS when a page is first written. */
static float *spill_map(const char *dir, size_t bytes)
{
	char path[4096];
	void *x = MAP_FAILED;
	int fd, e;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* a file system without O_TMPFILE: a named file, unlinked at once */
		if (snprintf(path, sizeof(path), "%s/linegate-samples-XXXXXX", dir) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return NULL;
	e = posix_fallocate(fd, 0, (off_t)bytes);
	if (!e)
		x = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		errno = e;
	e = errno;
	close(fd);
	errno = e;
	return x == MAP_FAILED ? NULL : x;
}

static void samples_put(struct lg_ingest *in, float *x, size_t bytes, unsigned spilled)
{
	if (!x)
		return;
	if (spilled) {
		munmap(x, bytes);
		in->spill_used -= bytes;
	} else {
		free(x);
		in->mem_used -= bytes;
	}
}

static void seg_free(struct lg_ingest *in, struct lg_ingest_seg *s, unsigned channels)
{
	samples_put(in, s->x, sizeof(float) * s->cap * channels, s->spilled);
	s->x = NULL;
}

/* bytes for samples (a segment, or a file's samples on their way to one): from the heap
 * while in->mem_budget allows, else an unlinked file in the spill folder (*spilled set).
 * NULL after writing "where: ..." to err. */
static float *samples_get(struct lg_ingest *in, size_t bytes, unsigned *spilled,
			  const char *where, char *err, size_t errlen)
{
	float *x;

	*spilled = 0;
	if (!in->mem_budget || in->mem_used + bytes <= in->mem_budget) {
		x = malloc(bytes);
		if (!x)
			seterr(err, errlen, "%s: out of memory", where);
		else
			in->mem_used += bytes;
		return x;
	}
	x = spill_map(lg_ingest_spill_dir(in), bytes);
	if (!x) {
		seterr(err, errlen, "%s: the samples are past --memory (%zu MiB) and cannot be kept "
		       "in %s (--spill-dir): %s", where, in->mem_budget >> 20,
		       lg_ingest_spill_dir(in), strerror(errno));
		return NULL;
	}
	*spilled = 1;
	in->spill_used += bytes;
	if (!in->spill_said) {
		struct statfs fs;

		in->spill_said = 1;
		note(in, "the samples are past %zu MiB of memory (--memory): the rest are kept in "
		     "unlinked files in %s (--spill-dir), read back as windows are made",
		     in->mem_budget >> 20, lg_ingest_spill_dir(in));
		/* a tmpfs is memory: spilled there, the samples take it all the same (trial V,
		 * s24: TMPDIR on a tmpfs, taken without a word, then the OOM killer) */
		if (!statfs(lg_ingest_spill_dir(in), &fs) && fs.f_type == TMPFS_MAGIC)
			note(in, "WARNING: %s is a tmpfs, which is memory: the samples kept there take "
			     "it all the same; give --spill-dir a folder on a disk",
			     lg_ingest_spill_dir(in));
	}
	return x;
}

/* Room for m more samples per channel (channel-major: moving channels up as it grows), in
 * memory while in->mem_budget allows, else in the spill folder. 0, or -ENOMEM after writing
 * "where: ..." to err. */
static int seg_reserve(struct lg_ingest *in, struct lg_ingest_seg *s, unsigned channels,
		       size_t m, const char *where, char *err, size_t errlen)
{
	size_t cap = s->cap ? s->cap : 1024;
	unsigned spilled;
	float *x;

	if (s->n + m <= s->cap)
		return 0;
	while (cap < s->n + m)
		cap *= 2;
	if (!s->cap && m >= cap / 2)
		cap = m; /* a file's whole run at once (WAV, CSV, .npy): no room to spare */
	x = samples_get(in, sizeof(float) * cap * channels, &spilled, where, err, errlen);
	if (!x)
		return -ENOMEM;
	for (unsigned c = 0; c < channels; c++)
		if (s->n)
			memcpy(x + (size_t)c * cap, s->x + (size_t)c * s->cap, sizeof(float) * s->n);
	seg_free(in, s, channels);
	s->x = x;
	s->cap = cap;
	s->spilled = spilled;
	return 0;
}

/* The time the device's next segment starts: where its last one ended. */
static double dev_end(const struct lg_ingest_dev *d)
{
	const struct lg_ingest_seg *s;

	if (!d->nseg)
		return 0;
	s = &d->seg[d->nseg - 1];
	return s->t0 + (double)s->n / d->rate;
}

double lg_ingest_end(const struct lg_ingest_dev *d)
{
	return dev_end(d);
}

double lg_ingest_seconds(const struct lg_ingest_dev *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nseg; i++)
		n += d->seg[i].n;
	return (double)n / d->rate;
}

static void free_dev(struct lg_ingest *in, struct lg_ingest_dev *d)
{
	for (size_t i = 0; i < d->nseg; i++)
		seg_free(in, &d->seg[i], d->channels);
	free(d->seg);
}

void lg_ingest_free(struct lg_ingest *in)
{
	for (size_t i = 0; i < in->ndev; i++)
		free_dev(in, &in->dev[i]);
	for (size_t i = 0; i < in->nfiles; i++)
		free(in->files[i]);
	free(in->dev);
	free(in->files);
	free(in->other);
	free(in->notes);
	memset(in, 0, sizeof(*in));
}

/* Undo what a failed file added: devices it made and segments it appended. */
struct undo {
	size_t ndev, nfiles;
	size_t *nseg; /* per device that existed */
};

static int undo_mark(const struct lg_ingest *in, struct undo *u)
{
	u->ndev = in->ndev;
	u->nfiles = in->nfiles;
	u->nseg = calloc(in->ndev + 1, sizeof(*u->nseg));
	if (!u->nseg)
		return -ENOMEM;
	for (size_t i = 0; i < in->ndev; i++)
		u->nseg[i] = in->dev[i].nseg;
	return 0;
}

static void undo_apply(struct lg_ingest *in, struct undo *u)
{
	while (in->ndev > u->ndev)
		free_dev(in, &in->dev[--in->ndev]);
	for (size_t i = 0; i < in->ndev; i++) {
		struct lg_ingest_dev *d = &in->dev[i];

		while (d->nseg > u->nseg[i])
			seg_free(in, &d->seg[--d->nseg], d->channels);
	}
	while (in->nfiles > u->nfiles)
		free(in->files[--in->nfiles]);
	if (!in->nfiles) {
		free(in->files);
		in->files = NULL;
	}
	if (!in->ndev) {
		free(in->dev);
		in->dev = NULL;
	}
}

/* ---- notes and bad samples ---- */

/* One line of what the file gave, for the tools to print (lg_ingest.notes). */
static void note(struct lg_ingest *in, const char *fmt, ...)
{
	char line[1024], *n;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof(line))
		k = sizeof(line) - 1;
	if (in->notes_len + (size_t)k + 2 > 65536)
		return; /* a file of many devices: the first lines say enough */
	n = realloc(in->notes, in->notes_len + (size_t)k + 2);
	if (!n)
		return;
	in->notes = n;
	memcpy(n + in->notes_len, line, (size_t)k);
	in->notes_len += (size_t)k;
	n[in->notes_len++] = '\n';
	n[in->notes_len] = '\0';
}

/* The values device name's samples may take, as the data plane bounds them
 * (lg_sample_bounds(): its policy 'range', else +-LG_SAMPLE_LIMIT). */
static void bounds_of(const struct lg_ingest_opts *o, const char *name, float *lo, float *hi)
{
	const struct lg_policy_device *dev = NULL;

	for (size_t i = 0; o && o->policy && i < o->policy->ndevices && !dev; i++)
		if (!strcmp(o->policy->devices[i].name, name))
			dev = &o->policy->devices[i];
	lg_sample_bounds(dev, lo, hi);
}

static int is_mask(const struct lg_ingest_opts *o)
{
	return o && o->bad_samples == LG_BAD_SAMPLES_MASK;
}

/* The first bad sample of the file: where (kept when already set). */
static void bad_where(struct lg_ingest *in, const char *fmt, ...)
{
	va_list ap;

	if (in->bad.first[0])
		return;
	va_start(ap, fmt);
	vsnprintf(in->bad.first, sizeof(in->bad.first), fmt, ap);
	va_end(ap);
}

/*
 * n sample rows of a file (channels interleaved, frame-major) into the device's stream. A row
 * holding a bad sample is the file's "frame": under drop it is left out and the segment cut
 * there (the rows after it start a new one, at their own time), under mask each bad sample
 * becomes its channel's last good value. Segments are channel-major.
 */
static int add_interleaved(struct lg_ingest *in, const char *name, double rate,
			   unsigned channels, const float *x, size_t n,
			   const struct lg_ingest_opts *o, const char *where, char *err,
			   size_t errlen)
{
	struct lg_ingest_dev *d = get_dev(in, name, rate, channels, where, err, errlen);
	int mask = is_mask(o);
	size_t i = 0, taken = 0;
	double t0;
	float lo, hi;

	if (!d)
		return -EINVAL;
	bounds_of(o, d->name, &lo, &hi);
	t0 = dev_end(d);
	do {
		struct lg_ingest_seg *s;
		size_t j = i;

		while (!mask && i < n) {
			unsigned c = 0;

			while (c < channels && !lg_sample_bad(x[i * channels + c], lo, hi))
				c++;
			if (c == channels)
				break;
			bad_where(in, "sample row %zu, channel %u", i, c);
			in->bad.dropped++;
			in->st.bad_dropped++;
			i++;
		}
		if (i == n && n)
			break;
		for (j = i; !mask && j < n; j++) {
			unsigned c = 0;

			while (c < channels && !lg_sample_bad(x[j * channels + c], lo, hi))
				c++;
			if (c < channels)
				break;
		}
		if (mask)
			j = n;
		s = new_seg(d, t0 + (double)i / rate, (unsigned)in->nfiles - 1);
		if (!s) {
			seterr(err, errlen, "%s: out of memory", where);
			return -ENOMEM;
		}
		if (seg_reserve(in, s, channels, j > i ? j - i : 1, where, err, errlen))
			return -ENOMEM;
		for (size_t k = i; k < j; k++)
			for (unsigned c = 0; c < channels; c++) {
				float v = x[k * channels + c];

				if (mask && lg_sample_bad(v, lo, hi)) {
					bad_where(in, "sample row %zu, channel %u", k, c);
					v = d->last_good[c];
					in->bad.masked++;
					in->st.bad_masked++;
				} else {
					d->last_good[c] = v;
				}
				s->x[(size_t)c * s->cap + k - i] = v;
			}
		s->n = j - i;
		in->st.samples += j - i;
		taken += j - i;
		i = j;
	} while (i < n);
	if (n && !taken) {
		seterr(err, errlen, "%s: every one of its %zu sample rows holds a NaN, infinite or "
		       "out-of-range sample (the first: %s): no samples", where, n, in->bad.first);
		return -EINVAL;
	}
	return 0;
}

/* Where a given rate came from, as the notes say it. */
static const char *rate_word(const struct lg_ingest_opts *o)
{
	return o && o->rate_said ? o->rate_said : "--sample-rate";
}

static double scale_of(const struct lg_ingest_opts *o)
{
	return o && o->scale != 0 ? o->scale : 1.0;
}

/* ---- WAV, FLAC and the rest of libsndfile ---- */

static int ingest_sndfile(struct lg_ingest *in, const char *path, const struct lg_ingest_opts *o,
			  char *err, size_t errlen)
{
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	char name[LG_INGEST_NAME_MAX];
	double scale = scale_of(o), rate;
	float *x = NULL;
	size_t xbytes;
	unsigned xspill;
	sf_count_t got;
	int ret;

	if (!sf) {
		/* libsndfile words a missing file "System error : No such file or directory." */
		if (access(path, R_OK))
			seterr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		else
			seterr(err, errlen, "%s: %s", path, sf_strerror(NULL));
		return -EINVAL;
	}
	if (info.channels < 1 || info.channels > LG_INGEST_MAX_CHANNELS || info.frames < 0 ||
	    (unsigned long long)info.frames * (unsigned)info.channels > MAX_FILE_BYTES / 4) {
		seterr(err, errlen, "%s: %d channels x %lld samples: linegate takes 1..%d channels "
		       "and at most %llu samples", path, info.channels, (long long)info.frames,
		       LG_INGEST_MAX_CHANNELS, MAX_FILE_BYTES / 4);
		sf_close(sf);
		return -EINVAL;
	}
	/* libsndfile reads a WAV whose data chunk is cut short as the frames that are there,
	 * and says so only in its log ("data : 384 (should be 200)"): a cut recording is
	 * refused, not half read. */
	{
		char log[4096];
		const char *d;
		unsigned long long said, has;

		log[0] = '\0';
		sf_command(sf, SFC_GET_LOG_INFO, log, sizeof(log));
		d = strstr(log, "\ndata : ");
		if (d && sscanf(d, "\ndata : %llu (should be %llu)", &said, &has) == 2 &&
		    said != has) {
			seterr(err, errlen, "%s: the data chunk announces %llu bytes, the file holds "
			       "%llu: a cut recording (copy it again)", path, said, has);
			sf_close(sf);
			return -EINVAL;
		}
	}
	rate = o && o->rate > 0 && o->rate_here ? o->rate : info.samplerate;
	if (rate != info.samplerate)
		note(in, "WARNING: %s: its header says %d Hz; --sample-rate %g overrides it", path,
		     info.samplerate, rate);
	else if (o && o->rate > 0 && o->rate != info.samplerate && !o->rate_fallback)
		note(in, "%s: %d Hz, its header's: --sample-rate %g was given for files before it "
		     "(to override a file's own rate, give --sample-rate right before its --from)",
		     path, info.samplerate, o->rate);
	/* the file's samples before their segment: within --memory too (trial V, s24: two
	 * files' worth at once in memory were OOM-killed in a cgroup the default fit) */
	xbytes = sizeof(float) * ((size_t)info.frames * (size_t)info.channels + 1);
	x = samples_get(in, xbytes, &xspill, path, err, errlen);
	if (!x) {
		sf_close(sf);
		return -ENOMEM;
	}
	got = sf_readf_float(sf, x, info.frames);
	if (got != info.frames) {
		seterr(err, errlen, "%s: sample %lld of %lld: %s", path, (long long)got,
		       (long long)info.frames,
		       sf_error(sf) ? sf_strerror(sf) : "the file ends early");
		sf_close(sf);
		samples_put(in, x, xbytes, xspill);
		return -EINVAL;
	}
	sf_close(sf);
	/* a NaN, +-Inf or out-of-range sample (a float WAV can hold them): its sample row
	 * dropped or masked by add_interleaved(), as the data plane does a frame */
	for (size_t i = 0; i < (size_t)info.frames * (size_t)info.channels; i++)
		x[i] = (float)(x[i] * scale);
	if (o && o->device)
		snprintf(name, sizeof(name), "%s", o->device);
	else
		lg_ingest_stem(path, name, sizeof(name));
	ret = add_interleaved(in, name, rate, (unsigned)info.channels, x, (size_t)info.frames, o,
			      path, err, errlen);
	if (!ret)
		note(in, "%s: device %s: %d channel(s) (ch0..ch%d: the file's channels in order), "
		     "%g Hz (%s)", path, name, info.channels, info.channels - 1, rate,
		     rate != info.samplerate ? rate_word(o) : "its header");
	samples_put(in, x, xbytes, xspill);
	return ret;
}

/* ---- CSV ---- */

/* A number filling [s, e) exactly; 0, or -EINVAL. */
static int parse_num(const char *s, const char *e, double *v)
{
	char buf[64], *end;
	size_t n;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	n = (size_t)(e - s);
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	if (*end || errno == ERANGE)
		return -EINVAL;
	return 0;
}

/*
 * A time column's header: the seconds of its unit (1, 1e-3, 1e-6, 1e-9), or 0 when it does
 * not name one. Names: t, time, zeit, timestamp; a unit after '_' or ' ', or in () or []:
 * s, sec, ms, us, µs, ns; no unit: seconds. "Time (s)", "t [s]", "time_ms", "Zeit",
 * "timestamp", "TIME_US".
 */
static double time_unit(const char *h)
{
	static const char *const bases[] = { "t", "time", "zeit", "timestamp" };
	static const struct { const char *u; double s; } units[] = {
		{ "", 1 },         { "s", 1 },        { "sec", 1 },       { "secs", 1 },
		{ "second", 1 },   { "seconds", 1 },  { "ms", 1e-3 },     { "msec", 1e-3 },
		{ "us", 1e-6 },    { "usec", 1e-6 },  { "\xc2\xb5s", 1e-6 }, { "\xce\xbcs", 1e-6 },
		{ "ns", 1e-9 },
	};
	char b[64], *u = NULL, *e;
	size_t n = strlen(h);

	if (n >= sizeof(b))
		return 0;
	for (size_t i = 0; i <= n; i++)
		b[i] = (char)tolower((unsigned char)h[i]);
	e = b + n;
	if (n && (e[-1] == ')' || e[-1] == ']')) {
		char open = e[-1] == ')' ? '(' : '[';

		e[-1] = '\0';
		u = strrchr(b, open);
		if (!u)
			return 0;
		*u++ = '\0';
		while (*u == ' ')
			u++;
		for (e = u + strlen(u); e > u && e[-1] == ' '; e--)
			e[-1] = '\0';
		for (e = b + strlen(b); e > b && (e[-1] == ' ' || e[-1] == '_'); e--)
			e[-1] = '\0';
	} else if ((u = strrchr(b, '_')) || (u = strrchr(b, ' '))) {
		*u++ = '\0';
	}
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (strcmp(b, bases[i]))
			continue;
		for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (!strcmp(u ? u : "", units[k].u))
				return units[k].s;
	}
	return 0;
}

#define TIME_NAMES "t, time, zeit or timestamp, in seconds or with a unit (s, ms, us, ns) as " \
	"\"Time (s)\", \"t [ms]\", \"time_us\""

/* A row holding both ';' and ',': a decimal comma ("0,5;1,25")? */
static const char decimal_comma[] = " (a decimal comma? this row holds both ';' and ',': linegate "
	"reads '.' as the decimal point and takes ',' and ';' alike as column separators: export "
	"with a '.' decimal point)";

static int csv_parse(struct lg_ingest *in, const char *text, size_t len, const char *name,
		     const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned line = 0, ncol = 0, tcol = ~0u, channels, clock = 1;
	int header_seen = 0, header = 0, ret = -EINVAL;
	double scale = scale_of(o), rate = o && o->rate > 0 ? o->rate : 0, t_first = 0,
	       t_prev = 0, dt = 0, tunit = 1, c0_first = 0, c0_prev = 0, c0_step = 0;
	size_t n = 0, cap = 0, xbytes = 0;
	unsigned xspill = 0, comma_at = 0, comma_col = 0;
	int dotted = 0, neg2 = 0, semi = 0;
	char comma_field[32];
	float *x = NULL, lo, hi;
	char dev[LG_INGEST_NAME_MAX], hname[LG_INGEST_MAX_CHANNELS + 1][40], clock_said[512];

	if (memchr(text, '\0', len)) {
		seterr(err, errlen, "%s: a NUL byte: not a CSV text file", name);
		return -EINVAL;
	}
	if (o && o->device)
		snprintf(dev, sizeof(dev), "%s", o->device);
	else
		lg_ingest_stem(name, dev, sizeof(dev));
	bounds_of(o, dev, &lo, &hi);
	memset(hname, 0, sizeof(hname));
	clock_said[0] = '\0';
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		p += 3; /* a UTF-8 byte order mark, as spreadsheets write */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *f;
		unsigned col = 0;
		double row[LG_INGEST_MAX_CHANNELS + 1];
		int numeric = 1, both;

		if (!eol)
			eol = end;
		line++;
		/* blank lines and # comments */
		f = p;
		while (f < eol && (*f == ' ' || *f == '\t' || *f == '\r'))
			f++;
		if (f == eol || *f == '#') {
			p = eol + 1;
			continue;
		}
		if (eol == end) {
			/* no line end: the file may be cut inside this row (a copy cut short: a
			 * number cut to fewer digits reads as a number) */
			if (!(o && o->allow_cut)) {
				seterr(err, errlen, "%s:%u: the last row has no line end: a copy cut "
				       "short (its last number may be cut too)? Copy it again, or give "
				       "--allow-cut to read the rows before it", name, line);
				goto out;
			}
			note(in, "WARNING: %s:%u: the last row has no line end (a copy cut short?): "
			     "left out (--allow-cut), %zu whole rows read", name, line, n);
			break;
		}
		both = memchr(p, ';', (size_t)(eol - p)) && memchr(p, ',', (size_t)(eol - p));
		for (f = p;; col++) {
			const char *c = f;
			double v = 0;

			while (c < eol && *c != ',' && *c != ';')
				c++;
			if (col > LG_INGEST_MAX_CHANNELS) {
				seterr(err, errlen, "%s:%u:%ld: more than %d columns%s", name, line,
				       (long)(f - p) + 1, LG_INGEST_MAX_CHANNELS + 1,
				       both ? decimal_comma : "");
				goto out;
			}
			if (parse_num(f, c, &v)) {
				if (!header_seen && !ncol) {
					const char *a = f, *b = c;
					size_t k;

					numeric = 0; /* a header row: names */
					while (a < b && (*a == ' ' || *a == '"'))
						a++;
					while (b > a && (b[-1] == ' ' || b[-1] == '"' ||
							 b[-1] == '\r'))
						b--;
					k = (size_t)(b - a) < sizeof(hname[0]) - 1 ?
						    (size_t)(b - a) : sizeof(hname[0]) - 1;
					memcpy(hname[col], a, k);
					hname[col][k] = '\0';
					if (tcol == ~0u && time_unit(hname[col]) > 0) {
						tcol = col;
						tunit = time_unit(hname[col]);
					}
				} else {
					seterr(err, errlen, "%s:%u:%ld: not a number%s", name, line,
					       (long)(f - p) + 1, both ? decimal_comma :
					       memchr(f, '\t', (size_t)(c - f)) ? " (a tab between "
					       "columns? linegate takes ',' and ';' as column "
					       "separators, and '.' as the decimal point)" : "");
					goto out;
				}
			} else if (!numeric) {
				seterr(err, errlen, "%s:%u:%ld: a header row holds names, not "
				       "numbers", name, line, (long)(f - p) + 1);
				goto out;
			} else if (both) {
				seterr(err, errlen, "%s:%u:%ld: %s", name, line, (long)(f - p) + 1,
				       decimal_comma + 2);
				err[strlen(err) - 1] = '\0'; /* the hint's closing parenthesis */
				goto out;
			} else {
				/* a decimal comma in a one-separator file ("0,010000", "-0,5"): no
				 * number with a '.', and fractions that start with 0 or a "-0" */
				const char *a = f, *b = c;

				while (a < b && *a == ' ')
					a++;
				while (b > a && (b[-1] == ' ' || b[-1] == '\r'))
					b--;
				size_t fl = b > a ? (size_t)(b - a) : 0;

				if (col == 1 && fl && *a == '-')
					neg2 = 1;
				if (col == 1 && f[-1] == ';')
					semi = 1; /* "4;8": a ';' export, two channels */
				/* "dotted": a number that is not a whole one ('.', an exponent, nan,
				 * inf): the file is no decimal comma's */
				if (strspn(a + (fl && (*a == '-' || *a == '+')), "0123456789") !=
				    fl - (fl && (*a == '-' || *a == '+')))
					dotted = 1;
				else if (!comma_at && ((col > 0 && fl >= 2 && a[0] == '0') ||
						       (fl == 2 && a[0] == '-' && a[1] == '0'))) {
					comma_at = line;
					comma_col = col + 1;
					snprintf(comma_field, sizeof(comma_field), "%.*s",
						 (int)(b - a < 24 ? b - a : 24), a);
				}
			}
			row[col] = v;
			if (c >= eol)
				break;
			f = c + 1;
		}
		col++;
		if (!numeric) {
			header_seen = 1;
			header = 1;
			ncol = col;
			p = eol + 1;
			continue;
		}
		if (!ncol)
			ncol = col;
		if (col != ncol) {
			seterr(err, errlen, "%s:%u:1: %u columns, the rows before have %u%s", name,
			       line, col, ncol, both ? decimal_comma : !dotted && memchr(p, ',',
			       (size_t)(eol - p)) ? " (a decimal comma? linegate reads '.' as the "
			       "decimal point and ',' as a column separator: export with a '.' "
			       "decimal point)" : "");
			goto out;
		}
		header_seen = 1;
		if (tcol != ~0u) {
			double t = row[tcol] * tunit;

			if (!isfinite(t)) {
				seterr(err, errlen, "%s:%u:%u: the time is not a finite number", name,
				       line, tcol + 1);
				goto out;
			}
			if (n == 1) {
				dt = t - t_first;
				if (!(dt > 0)) {
					seterr(err, errlen, "%s:%u:%u: time does not rise", name,
					       line, tcol + 1);
					goto out;
				}
			} else if (n > 1 && !(o && o->rate > 0 && o->rate_here) &&
				   fabs((t - t_prev) - dt) > 0.01 * dt + 1.01e-6) {
				/* (a rate given for other files, or a policy's, does not excuse an
				 * uneven column whose own rate is taken: trial W, s25) */
				/* 1% of a step, plus the microsecond a 6-decimal export rounds to */
				seterr(err, errlen, "%s:%u:%u: time step %g s, the first is %g s: "
				       "linegate needs evenly spaced samples. A stop in the "
				       "recording? Split the file there and give both: each file "
				       "is its own segment, no window spans the stop (--sample-rate "
				       "right before its --from would take the rate from it and "
				       "join the samples across the stop)", name, line, tcol + 1,
				       t - t_prev, dt);
				goto out;
			}
			if (!n)
				t_first = t;
			t_prev = t;
		} else if (clock) {
			/* a first column that rises evenly, row after row, like a clock */
			double v = row[0];

			if (n == 1)
				c0_step = v - c0_first;
			if (n >= 1 && (!(v > c0_prev) || !isfinite(v) ||
				       (n > 1 && fabs((v - c0_prev) - c0_step) > 0.5 * c0_step)))
				clock = 0;
			if (!n)
				c0_first = v;
			c0_prev = v;
		}
		channels = ncol - (tcol != ~0u);
		if (!channels) {
			seterr(err, errlen, "%s:%u:1: no sample column", name, line);
			goto out;
		}
		if (n == cap) {
			/* once, at the first sample row: room for as many rows as lines are left
			 * (an upper bound), within --memory like a WAV's samples (s24 left a CSV's
			 * parsed samples unbounded: a doubling heap buffer) */
			const char *q = p;

			if (x) {
				seterr(err, errlen, "%s:%u: more sample rows than lines", name, line);
				goto out;
			}
			cap = 1;
			while ((q = memchr(q, '\n', (size_t)(end - q))) && ++q < end)
				cap++;
			if (cap * channels > MAX_FILE_BYTES / 4) {
				seterr(err, errlen, "%s:%u: too many samples (%zu rows of %u channels: "
				       "at most %llu values)", name, line, cap, channels,
				       MAX_FILE_BYTES / 4);
				ret = -ENOMEM;
				goto out;
			}
			xbytes = sizeof(float) * cap * channels;
			x = samples_get(in, xbytes, &xspill, name, err, errlen);
			if (!x) {
				ret = -ENOMEM;
				goto out;
			}
		}
		for (unsigned c = 0, k = 0; c < ncol; c++) {
			if (c == tcol)
				continue;
			x[n * channels + k] = (float)(row[c] * scale);
			/* a NaN, +-Inf or out-of-range sample: the row is dropped or masked
			 * (add_interleaved()), as the data plane does a frame */
			if (lg_sample_bad(x[n * channels + k++], lo, hi))
				bad_where(in, "line %u, column %u", line, c + 1);
		}
		n++;
		p = eol + 1;
	}
	if (!n) {
		seterr(err, errlen, "%s: no samples", name);
		goto out;
	}
	channels = ncol - (tcol != ~0u);
	if (tcol == ~0u && clock && n >= 32) {
		/* Column 1 rises evenly, row after row. With a rate given, a step of one sample
		 * in s, ms, us or ns is a clock: refused, not read as a vibration channel; with
		 * none, said with the refusal below. (A test ramp rises evenly too, by steps of
		 * its own.) */
		double u = rate > 0 ? c0_step * rate : 0;
		int unit = 0;

		for (double k = 1; k <= 1e9 && !unit; k *= 1e3)
			unit = fabs(u - k) <= 0.02 * k;
		snprintf(clock_said, sizeof(clock_said), "column 1%s%s%s rises evenly from %g to "
			 "%g, by %g a row, like a clock: a time column? A time column is named "
			 TIME_NAMES "%s", header ? " ('" : "", header ? hname[0] : "",
			 header ? "')" : "", c0_first, c0_prev, c0_step,
			 rate > 0 ? " (it gives the rate); rename it, or leave the column out" : "");
		if (unit) {
			seterr(err, errlen, "%s: %s; it is not taken as a vibration channel at "
			       "--sample-rate %g (a step of one sample in s, ms, us or ns)", name,
			       clock_said, rate);
			goto out;
		}
		if (rate > 0)
			clock_said[0] = '\0';
	}
	if (tcol != ~0u && n > 1) {
		/* The mean step over the whole file, not the first one alone. Times written with
		 * few digits (microseconds) blur it by up to 2 us over the span: a rate the
		 * analysers use that lies within that is the rate; else whole Hz. */
		static const double common[] = { 1000, 2000, 2048, 2560, 4000, 4096, 5000, 5120,
						  8000, 8192, 10000, 10240, 12000, 12800, 16000,
						  16384, 20000, 20480, 24000, 25000, 25600, 32000,
						  32768, 40000, 44100, 48000, 50000, 51200, 65536,
						  96000, 100000, 102400, 192000 };
		double span = t_prev - t_first, tol, trate;

		trate = (double)(n - 1) / span;
		tol = trate * (2e-6 / span + 1e-5);
		for (size_t k = 0; k < sizeof(common) / sizeof(common[0]); k++)
			if (fabs(trate - common[k]) <= tol) {
				trate = common[k];
				break;
			}
		if (fabs(trate - round(trate)) < 1e-3 * trate)
			trate = round(trate);
		if (rate && !o->rate_here && isfinite(trate)) {
			/* a rate given for files before this one: the time column's */
			if (fabs(trate - rate) > 1e-3 * rate && !o->rate_fallback)
				note(in, "%s: %g Hz, its time column's: --sample-rate %g was given for "
				     "files before it (to override a file's own rate, give "
				     "--sample-rate right before its --from)", name, trate, rate);
			rate = trate;
		} else if (!rate) {
			rate = trate;
		} else if (isfinite(trate) && fabs(trate - rate) > 1e-3 * rate) {
			note(in, "WARNING: %s: its time column %u ('%s') gives %g Hz; --sample-rate "
			     "%g overrides it", name, tcol + 1, hname[tcol], trate, rate);
		}
	}
	/* one column with one or more decimals after a comma ("4,8", "5,0", "100,232"): two
	 * columns of whole numbers without a header, the second never negative (a vibration
	 * channel swings both ways; a fraction's digits never do; trial W2, s25) */
	if (!comma_at && !dotted && !header && ncol == 2 && !neg2 && !semi && n > 1) {
		seterr(err, errlen, "%s: two columns of whole numbers, no header, no '.' in the file "
		       "and the second column never negative: a decimal comma read as a column "
		       "separator ('4,8' would be two columns, 4 and 8)? linegate reads '.' as the "
		       "decimal point: export with a '.' decimal point; if these are two channels "
		       "of whole numbers, name them in a header row", name);
		goto out;
	}
	if (comma_at && !dotted) {
		seterr(err, errlen, "%s:%u:%u: '%s' and no number with a '.' in the file: a "
		       "decimal comma read as a column separator ('0,010000' would be two "
		       "columns, 0 and 10000)? linegate reads '.' as the decimal point: export "
		       "with a '.' decimal point", name, comma_at, comma_col, comma_field);
		goto out;
	}
	if (!(rate > 0)) {
		seterr(err, errlen, "%s: no sample rate: give one (--sample-rate) or a time "
		       "column named " TIME_NAMES "%s%s", name, clock_said[0] ? ". " : "",
		       clock_said);
		goto out;
	}
	ret = add_interleaved(in, dev, rate, channels, x, n, o, name, err, errlen);
	if (!ret) {
		char cols[1024];
		size_t u = 0;

		cols[0] = '\0';
		for (unsigned c = 0, k = 0; c < ncol && u < sizeof(cols); c++) {
			if (c == tcol)
				continue;
			u += (size_t)snprintf(cols + u, sizeof(cols) - u, "%sch%u = column %u%s%s%s",
					      k ? ", " : "", k, c + 1, header ? " '" : "",
					      header ? hname[c] : "", header ? "'" : "");
			k++;
		}
		if (tcol != ~0u)
			note(in, "%s: device %s: %u channel(s): %s; %g Hz (%s column %u '%s'%s)",
			     name, dev, channels, cols, rate,
			     o && o->rate > 0 && o->rate_here ? "--sample-rate; time" : "from the time",
			     tcol + 1, hname[tcol], tunit == 1 ? ", seconds" : tunit == 1e-3 ?
			     ", milliseconds" : tunit == 1e-6 ? ", microseconds" : ", nanoseconds");
		else
			note(in, "%s: device %s: %u channel(s): %s; %g Hz (%s)", name,
			     dev, channels, cols, rate, rate_word(o));
	}
out:
	samples_put(in, x, xbytes, xspill);
	return ret;
}

/* ---- .npy ---- */

/* The value of 'key' in the header dict: points at its first character. */
static const char *npy_key(const char *h, const char *key)
{
	char pat[32];
	const char *v;

	snprintf(pat, sizeof(pat), "'%s'", key);
	v = strstr(h, pat);
	if (!v)
		return NULL;
	v += strlen(pat);
	while (*v == ' ')
		v++;
	if (*v != ':')
		return NULL;
	v++;
	while (*v == ' ')
		v++;
	return v;
}

static int npy_parse(struct lg_ingest *in, const uint8_t *buf, size_t len, const char *name,
		     const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	size_t hlen, hoff, esize, n, channels = 1, count;
	char h[4096], dev[LG_INGEST_NAME_MAX];
	const char *v;
	char type;
	int bigend, fortran, ret;
	unsigned long long dims[2];
	int ndims = 0;
	float *x, lo, hi;
	size_t xbytes;
	unsigned xspill;
	double scale = scale_of(o);

	if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) {
		seterr(err, errlen, "%s:0: not a .npy file (no \\x93NUMPY magic)", name);
		return -EINVAL;
	}
	if (buf[6] == 1) {
		hlen = buf[8] | (size_t)buf[9] << 8;
		hoff = 10;
	} else if ((buf[6] == 2 || buf[6] == 3) && len >= 12) {
		hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		hoff = 12;
	} else {
		seterr(err, errlen, "%s:6: .npy format version %u is not one linegate reads "
		       "(1, 2, 3)", name, buf[6]);
		return -EINVAL;
	}
	if (hlen >= sizeof(h) || hoff + hlen > len) {
		seterr(err, errlen, "%s:%zu: the header length %zu runs past the file", name,
		       hoff - 4, hlen);
		return -EINVAL;
	}
	memcpy(h, buf + hoff, hlen);
	h[hlen] = '\0';
	if (strlen(h) != hlen) {
		seterr(err, errlen, "%s:%zu: a NUL byte in the header", name, hoff + strlen(h));
		return -EINVAL;
	}
	v = npy_key(h, "descr");
	if (!v || v[0] != '\'' || strlen(v) < 5 || v[4] != '\'') {
		seterr(err, errlen, "%s:%zu: the header has no 'descr' of a plain number type",
		       name, hoff);
		return -EINVAL;
	}
	bigend = v[1] == '>';
	type = v[2];
	esize = (size_t)(v[3] - '0');
	if ((v[1] != '<' && v[1] != '>' && v[1] != '|') ||
	    !((type == 'f' && (esize == 4 || esize == 8)) ||
	      (type == 'i' && (esize == 2 || esize == 4)))) {
		seterr(err, errlen, "%s:%zu: dtype %.3s: linegate reads float32, float64, int16 "
		       "and int32", name, hoff + (size_t)(v - h), v + 1);
		return -EINVAL;
	}
	v = npy_key(h, "fortran_order");
	if (!v || (strncmp(v, "False", 5) && strncmp(v, "True", 4))) {
		seterr(err, errlen, "%s:%zu: the header has no fortran_order", name, hoff);
		return -EINVAL;
	}
	fortran = v[0] == 'T';
	v = npy_key(h, "shape");
	if (!v || *v != '(') {
		seterr(err, errlen, "%s:%zu: the header has no shape", name, hoff);
		return -EINVAL;
	}
	v++;
	while (*v && *v != ')') {
		char *e;

		while (*v == ' ' || *v == ',')
			v++;
		if (*v == ')')
			break;
		if (ndims == 2 || !isdigit((unsigned char)*v)) {
			seterr(err, errlen, "%s:%zu: shape: linegate reads (samples,) or (samples, "
			       "channels)", name, hoff + (size_t)(v - h));
			return -EINVAL;
		}
		errno = 0;
		dims[ndims++] = strtoull(v, &e, 10);
		if (errno) {
			seterr(err, errlen, "%s:%zu: shape: a number too large", name,
			       hoff + (size_t)(v - h));
			return -EINVAL;
		}
		v = e;
	}
	if (*v != ')' || !ndims) {
		seterr(err, errlen, "%s:%zu: shape: linegate reads (samples,) or (samples, channels)",
		       name, hoff);
		return -EINVAL;
	}
	n = (size_t)dims[0];
	if (ndims == 2)
		channels = (size_t)dims[1];
	if (!channels || channels > LG_INGEST_MAX_CHANNELS || dims[0] > MAX_FILE_BYTES ||
	    (ndims == 2 && dims[1] > LG_INGEST_MAX_CHANNELS)) {
		seterr(err, errlen, "%s:%zu: shape (%llu, %zu): 1..%d channels", name, hoff,
		       (unsigned long long)dims[0], channels, LG_INGEST_MAX_CHANNELS);
		return -EINVAL;
	}
	count = n * channels;
	if ((len - hoff - hlen) / esize < count) {
		seterr(err, errlen, "%s:%zu: %zu samples of %zu bytes announced, %zu bytes there",
		       name, hoff + hlen, count, esize, len - hoff - hlen);
		return -EINVAL;
	}
	if (!(o && o->rate > 0)) {
		seterr(err, errlen, "%s: a .npy file carries no sample rate: give --sample-rate "
		       "before it (it applies to the --from files after it)", name);
		return -EINVAL;
	}
	xbytes = sizeof(float) * (count + 1);
	x = samples_get(in, xbytes, &xspill, name, err, errlen); /* within --memory, as a WAV's */
	if (!x)
		return -ENOMEM;
	if (o->device)
		snprintf(dev, sizeof(dev), "%s", o->device);
	else
		lg_ingest_stem(name, dev, sizeof(dev));
	bounds_of(o, dev, &lo, &hi);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *e = buf + hoff + hlen + i * esize;
		uint8_t b[8];
		double val;
		size_t at;

		for (size_t k = 0; k < esize; k++)
			b[k] = bigend ? e[esize - 1 - k] : e[k];
		if (type == 'f' && esize == 4) {
			float f;

			memcpy(&f, b, 4);
			val = f;
		} else if (type == 'f') {
			memcpy(&val, b, 8);
		} else if (esize == 2) {
			int16_t s;

			memcpy(&s, b, 2);
			val = s;
		} else {
			int32_t s;

			memcpy(&s, b, 4);
			val = s;
		}
		/* Fortran order holds each channel contiguously; the segment wants frames. */
		at = fortran ? (i % n) * channels + i / n : i;
		x[at] = (float)(val * scale);
		if (!in->bad.first[0] && lg_sample_bad(x[at], lo, hi))
			bad_where(in, "byte %zu (sample %zu: row %zu, channel %zu)",
				  hoff + hlen + i * esize, i, at / channels, at % channels);
	}
	ret = add_interleaved(in, dev, o->rate, (unsigned)channels, x, n, o, name, err, errlen);
	if (!ret)
		note(in, "%s: device %s: %zu channel(s) (ch0..ch%zu: the array's columns), %g Hz "
		     "(%s)", name, dev, channels, channels - 1, o->rate, rate_word(o));
	samples_put(in, x, xbytes, xspill);
	return ret;
}

/* ---- pcap of LGF, through the pcap backend ---- */

/* n samples per channel from file (an index into in->files) went into d's last segment:
 * what pcap_notes() says of the file. */
static void file_count(struct lg_ingest_dev *d, unsigned file, size_t n)
{
	if (d->file_at != file + 1) {
		d->file_at = file + 1;
		d->file_segs = 0;
		d->file_samples = 0;
		d->file_seg_last = SIZE_MAX;
	}
	if (d->file_seg_last != d->nseg - 1) {
		d->file_seg_last = d->nseg - 1;
		d->file_segs++;
	}
	d->file_samples += n;
	d->seg[d->nseg - 1].file_last = file;
}

/* Whether an LGF frame holds a bad sample (as the data plane's frame_has_bad()). */
static int lgf_has_bad(const struct lg_frame *f, float lo, float hi)
{
	float v[256];

	for (unsigned c = 0; c < f->channels; c++)
		for (uint32_t i = 0; i < f->sample_count; i += 256) {
			uint32_t m = f->sample_count - i < 256 ? f->sample_count - i : 256;

			lg_lgf_samples(f, c, i, m, v);
			for (uint32_t k = 0; k < m; k++)
				if (lg_sample_bad(v[k], lo, hi))
					return 1;
		}
	return 0;
}

static int lgf_frame(struct lg_ingest *in, const struct lg_frame *f, const char *path,
		     uint64_t rec, const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	char name[LG_INGEST_NAME_MAX], where[512];
	struct lg_ingest_dev *d;
	struct lg_ingest_seg *s;
	uint64_t dur_ns, next_seq;
	float lo, hi;
	bool gap;

	if (f->type != LGF_TYPE_SAMPLES && f->type != LGF_TYPE_HEARTBEAT)
		return 0;
	if (o && o->policy) {
		const struct lg_policy_device *pd = lg_policy_find(o->policy, f->device_id);
		const struct lg_policy_key *k = NULL;

		/* As the data plane takes it (verify.c, source_ok()): a device with a uadp section
		 * may send LGF over UDP too, unless it speaks through an MQTT broker only (trial
		 * s19 G: the trainer called such frames unknown while linegate scored them). */
		if (!pd || (pd->uadp_pub_type && pd->uadp_transport == LG_UADP_TRANSPORT_MQTT)) {
			in->st.unknown++;
			return 0;
		}
		for (unsigned i = 0; i < pd->nkeys; i++)
			if (pd->keys[i].id == f->key_id)
				k = &pd->keys[i];
		if (!k || lg_lgf_check_tag(f, k->bytes, LG_KEY_LEN)) {
			bad_tag(in, pd->name);
			return 0;
		}
		snprintf(name, sizeof(name), "%s", pd->name);
	} else {
		snprintf(name, sizeof(name), "dev%u", (unsigned)f->device_id);
	}
	if (o && o->only && strcmp(name, o->only)) {
		if (left_out(in, name)) {
			seterr(err, errlen, "%s: out of memory", path);
			return -ENOMEM;
		}
		return 0;
	}
	if (f->type != LGF_TYPE_SAMPLES || !f->sample_count) {
		/* a heartbeat carries no samples and keeps the stream going, as in the data
		 * plane (lg_window_seq_moves()) */
		d = lg_ingest_find(in, name);
		if (d && d->lgf_id && f->sequence > d->last_seq) {
			lg_follow_seq_moves(&d->follow, f->sequence);
			d->last_seq = f->sequence;
		}
		return 0;
	}
	snprintf(where, sizeof(where), "%s:record %llu", path, (unsigned long long)rec);
	d = get_dev(in, name, f->sample_rate, f->channels, where, err, errlen);
	if (!d)
		return -EINVAL;
	if (d->nseg && d->lgf_id && f->sequence <= d->last_seq) {
		in->st.out_of_order++;
		return 0;
	}
	dur_ns = (uint64_t)((double)f->sample_count * 1e9 / d->rate);
	bounds_of(o, d->name, &lo, &hi);
	if (!is_mask(o) && lgf_has_bad(f, lo, hi)) {
		/* bad_samples drop, as lg_window_add_frame(): the frame adds nothing and no
		 * window spans the gap it leaves (the next frame starts a segment) */
		bad_where(in, "record %llu (device %s, sequence %llu)", (unsigned long long)rec,
			  d->name, (unsigned long long)f->sequence);
		in->bad.dropped++;
		in->st.bad_dropped++;
		d->cut = 1;
		d->lgf_id = f->device_id;
		d->last_seq = f->sequence;
		return 0;
	}
	/* A frame that does not follow the last by the data plane's rule (a sequence gap: a
	 * lost frame, or one dropped for a bad sample; a pause of a stream on its samples'
	 * clock) starts a new segment, in this file or from the last. A stream's rotated
	 * files (linegate's own recording) go on as one; frames stamped closer than their
	 * samples (a recording sent faster than it was measured) are no gap. */
	next_seq = d->follow.next_seq;
	gap = lg_follow_next(&d->follow, f->sequence, f->timestamp_ns, dur_ns);
	if (!d->lgf_id || !d->nseg || d->cut || gap) {
		double t0;

		if (!d->lgf_id || !d->nseg) {
			d->first_ns = f->timestamp_ns;
			t0 = dev_end(d);
		} else {
			/* where its clock puts it, or, stamped on another clock, past the frames
			 * its sequence says are missing */
			double by_seq = dev_end(d) + (double)(f->sequence > next_seq && next_seq ?
							     f->sequence - next_seq : 0) *
							    (double)dur_ns / 1e9;

			t0 = (double)((int64_t)(f->timestamp_ns - d->first_ns)) / 1e9;
			if (t0 < by_seq)
				t0 = by_seq;
			if (!d->cut)
				in->st.gaps++;
		}
		d->lgf_id = f->device_id;
		d->cut = 0;
		if (!new_seg(d, t0, (unsigned)in->nfiles - 1)) {
			seterr(err, errlen, "%s: out of memory", where);
			return -ENOMEM;
		}
	}
	s = &d->seg[d->nseg - 1];
	if (seg_reserve(in, s, d->channels, f->sample_count, where, err, errlen))
		return -ENOMEM;
	for (unsigned c = 0; c < d->channels; c++) {
		float *dst = s->x + (size_t)c * s->cap + s->n;
		double sc = scale_of(o);
		uint64_t m;

		lg_lgf_samples(f, c, 0, f->sample_count, dst);
		/* mask: each bad sample its channel's last good value, as the data plane */
		m = lg_sample_mask_run(dst, f->sample_count, &d->last_good[c], lo, hi);
		if (m) {
			bad_where(in, "record %llu (device %s, sequence %llu)",
				  (unsigned long long)rec, d->name, (unsigned long long)f->sequence);
			in->bad.masked += m;
			in->st.bad_masked += m;
		}
		if (sc != 1.0)
			for (unsigned i = 0; i < f->sample_count; i++)
				dst[i] = (float)(dst[i] * sc);
	}
	s->n += f->sample_count;
	file_count(d, (unsigned)in->nfiles - 1, f->sample_count);
	d->last_seq = f->sequence;
	in->st.frames++;
	in->st.samples += f->sample_count;
	return 0;
}

/* ---- pcap of UADP (OPC UA PubSub), with the policy's identities, keys and rates ---- */

/* The policy's UADP device of DataSetMessage i (from the datagram's source when the message
 * names no publisher), or NULL. */
static const struct lg_policy_device *uadp_dev(const struct lg_policy *p, const struct lg_uadp_msg *m,
					       unsigned i, const struct lg_rx_pkt *pkt)
{
	struct lg_admit_uadp_hdr h;
	struct lg_admit_uadp_key key, k2;

	if (lg_uadp_admit_hdr(m, i, &h))
		return NULL;
	memset(&key, 0, sizeof(key));
	lg_admit_uadp_key_make(&h, pkt->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6,
			       pkt->src_addr, &key);
	for (size_t d = 0; d < p->ndevices; d++) {
		memset(&k2, 0, sizeof(k2));
		if (p->devices[d].uadp_pub_type && !lg_policy_uadp_key(&p->devices[d], &k2) &&
		    !lg_admit_uadp_key_cmp(&key, &k2))
			return &p->devices[d];
	}
	return NULL;
}

/* The RawData layout of a DataSetMessage's device (its typed 'fields'), for
 * lg_uadp_find_layouts(). */
struct raw_ctx {
	const struct lg_policy *p;
	const struct lg_rx_pkt *pkt;
};

static int raw_layout(void *ctx, const struct lg_admit_uadp_hdr *h, struct lg_uadp_layout *out)
{
	const struct raw_ctx *c = ctx;
	struct lg_admit_uadp_key key, k2;

	memset(&key, 0, sizeof(key));
	lg_admit_uadp_key_make(h, c->pkt->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6,
			       c->pkt->src_addr, &key);
	for (size_t d = 0; d < c->p->ndevices; d++) {
		memset(&k2, 0, sizeof(k2));
		if (c->p->devices[d].uadp_pub_type && !lg_policy_uadp_key(&c->p->devices[d], &k2) &&
		    !lg_admit_uadp_key_cmp(&key, &k2))
			return lg_policy_uadp_layout(&c->p->devices[d], out);
	}
	return -ENOENT;
}

/* Check (and decrypt into clear) a message as its device's security says; 0 or -EBADMSG. */
static int uadp_secure(const struct lg_policy_device *d, struct lg_uadp_msg *m, uint8_t *clear,
		       size_t cap, const struct lg_uadp_layouts *raw)
{
	if (!m->sig_len)
		return d->uadp_security == LG_UADP_SEC_NONE ? 0 : -EBADMSG;
	if (d->uadp_security == LG_UADP_SEC_ENCRYPT && !m->encrypted)
		return -EBADMSG;
	for (unsigned k = 0; k < d->nkeys; k++) {
		const struct lg_policy_key *key = &d->keys[k];
		struct lg_uadp_keys *uk = NULL;
		int ok;

		if (key->id != m->token_id)
			continue;
		if (lg_uadp_keys_new(&uk, key->bytes, LG_KEY_LEN, key->enc_len ? key->enc : NULL,
				     key->enc_len, key->enc_len ? key->key_nonce : NULL,
				     key->enc_len ? LG_UADP_KEY_NONCE_LEN : 0))
			return -EBADMSG;
		ok = !lg_uadp_verify_keys(m, uk) &&
		     (!m->encrypted || !lg_uadp_decrypt(m, uk, clear, cap, raw));
		lg_uadp_keys_free(uk);
		return ok ? 0 : -EBADMSG;
	}
	return -EBADMSG;
}

/* Samples of one DataSetMessage into its device's stream. */
static int uadp_dsm(struct lg_ingest *in, const struct lg_policy_device *pd,
		    const struct lg_uadp_msg *m, unsigned i, const struct lg_ingest_opts *o,
		    const char *where, char *err, size_t errlen)
{
	float lo, hi;
	const struct lg_uadp_field *f[LG_INGEST_MAX_CHANNELS];
	uint8_t idx[LG_INGEST_MAX_CHANNELS];
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	struct lg_ingest_dev *d = lg_ingest_find(in, pd->name);
	struct lg_ingest_seg *s;
	uint32_t want = pd->uadp_channels, count;
	unsigned n;

	if (!pd->sample_rate) {
		seterr(err, errlen, "%s: UADP device %s has no sample_rate in the policy (a UADP "
		       "message carries none): give it the rate its publisher samples at", where,
		       pd->name);
		return -EINVAL;
	}
	/* A delta frame feeds the channels the device's key frames chose. */
	if (!want && lg_uadp_dsm_type(dsm) == LG_UADP_DSM_DELTA_FRAME && !(d && (want = d->uadp_want)))
		return 0;
	n = lg_uadp_sample_fields(m, i, want, LG_INGEST_MAX_CHANNELS, f, idx, &count);
	if (!n || n > LG_INGEST_MAX_CHANNELS) {
		in->st.uadp_no_samples++;
		return 0;
	}
	d = get_dev(in, pd->name, pd->sample_rate, n, where, err, errlen);
	if (!d)
		return -EINVAL;
	for (unsigned c = 0; c < n; c++)
		d->uadp_want |= idx[c] < 32 ? 1u << idx[c] : 0;
	bounds_of(o, d->name, &lo, &hi);
	if (!is_mask(o)) {
		/* bad_samples drop: the DataSetMessage adds nothing, no window spans its gap */
		for (unsigned c = 0; c < n; c++)
			for (uint32_t e = 0; e < count; e++) {
				double v = 0;

				lg_uadp_field_get_f64(f[c], e, &v);
				if (!lg_sample_bad((float)v, lo, hi))
					continue;
				bad_where(in, "%s, DataSetMessage %u (device %s)", where, i,
					  d->name);
				in->bad.dropped++;
				in->st.bad_dropped++;
				d->cut = 1;
				d->last_seq = dsm->seq;
				return 0;
			}
	}
	/* A DataSetMessage that does not follow the last by its sequence starts a segment (a
	 * stream's next file goes on where the last ended). */
	if (!d->nseg || d->cut ||
	    (dsm->seq && (uint16_t)(d->last_seq + 1) != dsm->seq)) {
		if (d->nseg && !d->cut)
			in->st.gaps++;
		d->cut = 0;
		if (!new_seg(d, dev_end(d), (unsigned)in->nfiles - 1)) {
			seterr(err, errlen, "%s: out of memory", where);
			return -ENOMEM;
		}
	}
	s = &d->seg[d->nseg - 1];
	if (seg_reserve(in, s, n, count, where, err, errlen))
		return -ENOMEM;
	for (unsigned c = 0; c < n; c++) {
		float *x = s->x + (size_t)c * s->cap + s->n;
		uint64_t nm;

		for (uint32_t e = 0; e < count; e++) {
			double v = 0;

			lg_uadp_field_get_f64(f[c], e, &v);
			x[e] = (float)v;
		}
		nm = lg_sample_mask_run(x, count, &d->last_good[c], lo, hi);
		if (nm) {
			bad_where(in, "%s, DataSetMessage %u (device %s)", where, i, d->name);
			in->bad.masked += nm;
			in->st.bad_masked += nm;
		}
	}
	s->n += count;
	file_count(d, (unsigned)in->nfiles - 1, count);
	d->last_seq = dsm->seq;
	in->st.samples += count;
	return 0;
}

static int uadp_message(struct lg_ingest *in, struct lg_uadp_msg *m, uint8_t *clear,
			const struct lg_rx_pkt *pkt, const char *path, uint64_t rec,
			const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	const struct lg_policy *p = o->policy;
	const char *only = o->only;
	const struct lg_policy_device *first;
	struct lg_uadp_layout v[LG_UADP_MAX_DSM];
	struct lg_uadp_layouts lays = { v, 0 };
	struct raw_ctx rc = { p, pkt };
	char where[512];
	int ret = lg_uadp_decode(m, pkt->data, pkt->len, NULL);

	/* RawData: decoded with the layouts of the writers' devices (their typed 'fields');
	 * an encrypted payload may be RawData too, which its headers cannot tell. */
	if (ret == -LG_UADP_NO_LAYOUT || (!ret && m->encrypted)) {
		lg_uadp_find_layouts(m, raw_layout, &rc, v, &lays);
		if (ret && lays.n)
			ret = lg_uadp_decode(m, pkt->data, pkt->len, &lays);
	}
	if (ret) {
		in->st.not_lgf++;
		return 0;
	}
	first = uadp_dev(p, m, 0, pkt);
	if (!first) {
		in->st.unknown++;
		return 0;
	}
	if (uadp_secure(first, m, clear, LG_UADP_CLEAR_CAP, &lays)) {
		bad_tag(in, first->name);
		return 0;
	}
	snprintf(where, sizeof(where), "%s:record %llu", path, (unsigned long long)rec);
	in->st.frames++;
	for (unsigned i = 0; i < m->dsm_count; i++) {
		const struct lg_policy_device *pd = i ? uadp_dev(p, m, i, pkt) : first;

		if (!pd) {
			in->st.unknown++;
			continue;
		}
		if (only && strcmp(pd->name, only)) {
			if (left_out(in, pd->name)) {
				seterr(err, errlen, "%s: out of memory", path);
				return -ENOMEM;
			}
			continue;
		}
		ret = uadp_dsm(in, pd, m, i, o, where, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The pcap backend's refusal of a damaged or cut file, in the words of a tool that reads
 * recordings: its advice (the backend's cut=stop option) is not an option of the tools.
 * A file that ends inside a record: the tools' --allow-cut reads the records before it.
 */
static void pcap_refusal(const char *msg, bool allow_cut, char *err, size_t errlen)
{
	const char *end = strstr(msg, "(the file ends inside it"), *adv = strstr(msg, "cut=stop");

	if (!adv) {
		seterr(err, errlen, "%s", msg);
	} else if (end && !allow_cut) {
		/* "F: record N cannot be read: WHY (the file ends inside it: ..." */
		seterr(err, errlen, "%.*s(the file ends inside it: a copy cut short? The records "
		       "before it are whole; the rest of the recording is not in the file: copy it "
		       "again, or give --allow-cut to use what is there)", (int)(end - msg), msg);
	} else {
		/* damaged before its end: "...would be lost (cut=stop reads only ...)" */
		const char *p = adv;

		while (p > msg && *p != '(')
			p--;
		seterr(err, errlen, "%.*s(copy it again; --allow-cut reads only a file that ends "
		       "inside a record)", (int)(p - msg), msg);
	}
}

static int ingest_pcap(struct lg_ingest *in, const char *path, const struct lg_ingest_opts *o,
		       char *err, size_t errlen)
{
	const struct lg_backend_ops *ops = lg_backend_find("pcap");
	struct lg_backend_conf conf = { 0 };
	struct lg_backend *b = NULL;
	struct lg_rx_pkt pkts[LG_BURST_INGEST];
	char opts[4200], msg[512];
	struct lg_uadp_msg *um = NULL;
	uint8_t *uclear = NULL;
	uint64_t rec = 0;
	int ret, n;

	if (!ops) {
		seterr(err, errlen, "%s: this build has no pcap backend (libpcap)", path);
		return -ENOTSUP;
	}
	conf.port = o && o->port ? o->port : o && o->policy ? o->policy->port : 0;
	if (!conf.port) {
		seterr(err, errlen, "%s: which UDP port carries LGF? give --policy or --port", path);
		return -EINVAL;
	}
	if (strchr(path, ',') || strlen(path) > 4000) {
		seterr(err, errlen, "%s: a pcap file name may not hold a comma", path);
		return -EINVAL;
	}
	/* A recording cut mid-record (a copy cut short, a crash's .part) is refused, unless
	 * allow_cut: then what is whole is used, the cut record counted (cut_short). One
	 * reader, one pass: read as it goes, not copied into memory first (preload=off;
	 * recordings go up to gigabytes). */
	snprintf(opts, sizeof(opts), "file=%s,pace=0,csum=off,cut=%s,preload=off", path,
		 o && o->allow_cut ? "stop" : "refuse");
	conf.opts = opts;
	conf.port2 = o && o->policy ? o->policy->uadp_port : 0;
	conf.nqueues = 1;
	conf.nbufs = 64;
	conf.buf_size = 65536;
	if (conf.port2) {
		um = malloc(sizeof(*um));
		uclear = malloc(LG_UADP_CLEAR_CAP);
		if (!um || !uclear) {
			free(um);
			free(uclear);
			seterr(err, errlen, "%s: out of memory", path);
			return -ENOMEM;
		}
	}
	ret = lg_backend_setup(ops, &conf, msg, sizeof(msg));
	if (!ret)
		ret = ops->open(&b, &conf, msg, sizeof(msg));
	if (ret) {
		pcap_refusal(msg, o && o->allow_cut, err, errlen);
		if (ops->teardown)
			ops->teardown();
		free(um);
		free(uclear);
		return ret;
	}
	while ((n = ops->rx_burst(b, pkts, LG_BURST_INGEST, 1000)) >= 0) {
		for (int i = 0; i < n && !ret; i++) {
			struct lg_frame f;

			rec++;
			if (pkts[i].port_idx == 1 && !pkts[i].truncated && um) {
				ret = uadp_message(in, um, uclear, &pkts[i], path, rec, o, err,
						   errlen);
				continue;
			}
			if (pkts[i].port_idx || pkts[i].truncated ||
			    lg_lgf_parse(pkts[i].data, pkts[i].len, &f) != LG_OK) {
				in->st.not_lgf++;
				continue;
			}
			ret = lgf_frame(in, &f, path, rec, o, err, errlen);
		}
		ops->release(b, pkts, (unsigned)n);
		if (ret)
			break;
	}
	if (!ret && n != LG_RX_EOF) {
		seterr(err, errlen, "%s: reading after record %llu: %s", path,
		       (unsigned long long)rec, strerror(-n));
		ret = n;
	}
	if (!ret) {
		struct lg_backend_stats bs = { 0 };

		ops->stats(b, &bs);
		/* said by lg_ingest_all() with the tool's name */
		in->st.cut_short += bs.drops[LG_DROP_CAPTURE_TRUNCATED];
		for (int r = 0; r < LG_REASON_MAX; r++) {
			in->st.not_lgf += bs.drops[r];
			rec += bs.drops[r]; /* records the backend refused (another port, ...) */
		}
	}
	in->st.records += rec;
	ops->close(b);
	if (ops->teardown)
		ops->teardown();
	free(um);
	free(uclear);
	return ret;
}

/* ---- files ---- */

static int read_all(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_FILE_BYTES || !(nb = realloc(buf, cap + 1))) {
				seterr(err, errlen, "%s: larger than linegate reads (%llu bytes)",
				       path, MAX_FILE_BYTES);
				fclose(f);
				free(buf);
				return -EFBIG;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		seterr(err, errlen, "%s: read error", path);
		fclose(f);
		free(buf);
		return -EIO;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/*
 * A regular file's bytes mapped (private, writable, one zero byte after them), so that a
 * large CSV or .npy is page cache the kernel can drop, not memory of the tool's (trial V,
 * s24); *maplen is what to munmap. Anything else (a pipe) is read: *maplen 0, free() it.
 */
static int map_all(const char *path, uint8_t **out, size_t *len, size_t *maplen, char *err,
		   size_t errlen)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct stat st;
	size_t total;
	void *a, *f;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*maplen = 0;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || !st.st_size ||
	    (uint64_t)st.st_size > MAX_FILE_BYTES) {
		if (fd >= 0)
			close(fd);
		return read_all(path, out, len, err, errlen);
	}
	total = ((size_t)st.st_size + 1 + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	/* room for the file and the zero after it, then the file over its start */
	a = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f = a == MAP_FAILED ? MAP_FAILED :
			      mmap(a, (size_t)st.st_size, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_FIXED, fd, 0);
	close(fd);
	if (f == MAP_FAILED) {
		if (a != MAP_FAILED)
			munmap(a, total);
		return read_all(path, out, len, err, errlen);
	}
	*out = f;
	*len = (size_t)st.st_size;
	*maplen = total;
	return 0;
}

static void unmap_all(uint8_t *buf, size_t maplen)
{
	if (maplen)
		munmap(buf, maplen);
	else
		free(buf);
}

/* A file begins: the last one's notes and bad samples are forgotten. */
static void file_start(struct lg_ingest *in)
{
	free(in->notes);
	in->notes = NULL;
	in->notes_len = 0;
	memset(&in->bad, 0, sizeof(in->bad));
}

/* What a pcap gave, device by device: channels, rate, seconds, segments. */
static void pcap_notes(struct lg_ingest *in, const char *path)
{
	unsigned file = (unsigned)in->nfiles - 1, said = 0, more = 0;

	for (size_t i = 0; i < in->ndev; i++) {
		const struct lg_ingest_dev *d = &in->dev[i];
		uint64_t n = d->file_at == file + 1 ? d->file_samples : 0;
		size_t k = d->file_at == file + 1 ? d->file_segs : 0;

		if (k && said == 16)
			more++; /* a long line: the first devices show the way it was read */
		else if (k && ++said)
			note(in, "%s: device %s: %u channel(s) (ch0..ch%u as its %s carry them), %g "
			     "Hz (%s), %.1f s in %zu segment(s)", path, d->name, d->channels,
			     d->channels - 1, d->lgf_id ? "LGF frames" : "UADP fields", d->rate,
			     d->lgf_id ? "the frames' rate" : "the policy's sample_rate",
			     (double)n / d->rate, k);
	}
	if (more)
		note(in, "%s: and %u more devices, read the same way", path, more);
}

int lg_ingest_file(struct lg_ingest *in, const char *path, const struct lg_ingest_opts *o,
		   char *err, size_t errlen)
{
	const char *ext = ext_of(path);
	struct undo u;
	struct stat st;
	int ret;

	/* a FIFO, a device (/dev/zero behind a .npy link) reads without end (trial W3, s25:
	 * 2.1 GB in 6 s before any check) */
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file (%s): a recording is read from a file",
		       path, S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a FIFO" :
		       S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a file");
		return -EINVAL;
	}
	file_start(in);
	if (undo_mark(in, &u) || add_file_name(in, path)) {
		free(u.nseg);
		seterr(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (lg_ingest_is_capture(path)) {
		if (o && o->device) {
			seterr(err, errlen, "%s: a pcap names its devices in its frames: --device "
			       "applies to WAV, FLAC, CSV and .npy files", path);
			ret = -EINVAL;
		} else {
			ret = ingest_pcap(in, path, o, err, errlen);
		}
		if (!ret)
			pcap_notes(in, path);
	} else if (!strcasecmp(ext, "csv") || !strcasecmp(ext, "npy")) {
		uint8_t *buf;
		size_t len;

		size_t maplen;

		ret = map_all(path, &buf, &len, &maplen, err, errlen);
		if (!ret) {
			ret = !strcasecmp(ext, "csv") ?
				csv_parse(in, (const char *)buf, len, path, o, err, errlen) :
				npy_parse(in, buf, len, path, o, err, errlen);
			unmap_all(buf, maplen);
		}
	} else {
		ret = ingest_sndfile(in, path, o, err, errlen);
	}
	if (ret)
		undo_apply(in, &u);
	free(u.nseg);
	return ret;
}

/* The parsers on a buffer, as one file called name. */
static int mem_file(struct lg_ingest *in, const void *buf, size_t len, const char *name,
		    const struct lg_ingest_opts *o, char *err, size_t errlen, int is_csv)
{
	struct undo u;
	int ret;

	file_start(in);
	if (undo_mark(in, &u) || add_file_name(in, name)) {
		free(u.nseg);
		seterr(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	ret = is_csv ? csv_parse(in, buf, len, name, o, err, errlen) :
		       npy_parse(in, buf, len, name, o, err, errlen);
	if (ret)
		undo_apply(in, &u);
	free(u.nseg);
	return ret;
}

int lg_ingest_csv_mem(struct lg_ingest *in, const char *text, size_t len, const char *name,
		      const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	return mem_file(in, text, len, name, o, err, errlen, 1);
}

int lg_ingest_npy_mem(struct lg_ingest *in, const uint8_t *buf, size_t len, const char *name,
		      const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	return mem_file(in, buf, len, name, o, err, errlen, 0);
}

/* SHA-256 over devices [first, first + n) of in: name, rate, channels and samples. */
static int digest_devs(const struct lg_ingest_dev *dev, size_t n, char hex[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned len = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct lg_ingest_dev *d = &dev[i];
		char head[128];
		int k = snprintf(head, sizeof(head), "%s\n%.17g\n%u\n", d->name, d->rate,
				 d->channels);

		EVP_DigestUpdate(ctx, head, (size_t)k);
		for (size_t s = 0; s < d->nseg; s++)
			for (unsigned c = 0; c < d->channels; c++)
				EVP_DigestUpdate(ctx, d->seg[s].x + (size_t)c * d->seg[s].cap,
						 sizeof(float) * d->seg[s].n);
	}
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int lg_ingest_digest(const struct lg_ingest *in, char hex[65])
{
	return digest_devs(in->dev, in->ndev, hex);
}

int lg_ingest_dev_digest(const struct lg_ingest_dev *d, char hex[65])
{
	return digest_devs(d, 1, hex);
}

/* ---- labels ---- */

/* The labels in buf[0..len) (buf[len] must be writable: it is made the end), named path in
 * messages; buf is cut up in place, not freed. */
static int labels_parse(uint8_t *buf, size_t len, const char *path, struct lg_labels *out,
			char *err, size_t errlen)
{
	char *p, *next;
	unsigned line = 0;
	int ret, header = 0;

	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		seterr(err, errlen, "%s: a NUL byte: not a CSV text file", path);
		return -EINVAL;
	}
	for (p = (char *)buf; p < (char *)buf + len; p = next) {
		char *f[4] = { 0 }, *q = p, *eol = strchr(p, '\n');
		unsigned nf = 0;
		struct lg_label *l;

		if (eol)
			*eol = '\0';
		next = eol ? eol + 1 : (char *)buf + len;
		line++;
		p[strcspn(p, "\r")] = '\0';
		while (*q == ' ')
			q++;
		if (!*q || *q == '#')
			continue;
		for (char *c = q;;) {
			if (nf == 4) {
				seterr(err, errlen, "%s:%u:%ld: more than 4 columns (device, kind, "
				       "onset, end; fields are split at every ',': no quoting)",
				       path, line, (long)(c - p) + 1);
				goto bad;
			}
			f[nf++] = c;
			c = strchr(c, ',');
			if (!c)
				break;
			*c++ = '\0';
		}
		if (!header) {
			if (nf < 3 || strcmp(f[0], "device") || strcmp(f[1], "kind") ||
			    strcmp(f[2], "onset") || (nf == 4 && strcmp(f[3], "end"))) {
				seterr(err, errlen, "%s:%u:1: the first row must be the header "
				       "device,kind,onset[,end]", path, line);
				goto bad;
			}
			header = 1;
			continue;
		}
		if (nf < 3) {
			seterr(err, errlen, "%s:%u:1: a row needs device, kind and onset", path, line);
			goto bad;
		}
		l = realloc(out->l, sizeof(*l) * (out->n + 1));
		if (!l) {
			seterr(err, errlen, "%s: out of memory", path);
			ret = -ENOMEM;
			goto out;
		}
		out->l = l;
		l = &l[out->n];
		memset(l, 0, sizeof(*l));
		if (!*f[0] || strlen(f[0]) >= sizeof(l->device) || !*f[1] ||
		    strlen(f[1]) >= sizeof(l->kind)) {
			/* say which (trial W, s25: a long kind was said as both) */
			bool dev_bad = !*f[0] || strlen(f[0]) >= sizeof(l->device);

			seterr(err, errlen, "%s:%u:%d: %s: 1..%zu characters (bytes), this one has "
			       "%zu (fields are split at every ',': no quoting)", path, line,
			       dev_bad ? 1 : (int)(f[1] - p) + 1, dev_bad ? "device" : "kind",
			       (dev_bad ? sizeof(l->device) : sizeof(l->kind)) - 1,
			       strlen(dev_bad ? f[0] : f[1]));
			goto bad;
		}
		strcpy(l->device, f[0]);
		strcpy(l->kind, f[1]);
		l->line = line;
		if (parse_num(f[2], f[2] + strlen(f[2]), &l->onset) || !(l->onset >= 0) ||
		    !isfinite(l->onset)) {
			seterr(err, errlen, "%s:%u:%ld: onset: seconds from the device's first "
			       "sample (>= 0)", path, line, (long)(f[2] - p) + 1);
			goto bad;
		}
		l->end = -1;
		if (nf == 4 && *f[3] && (parse_num(f[3], f[3] + strlen(f[3]), &l->end) ||
					 !(l->end > l->onset) || !isfinite(l->end))) {
			seterr(err, errlen, "%s:%u:%ld: end: empty, or seconds after the onset", path,
			       line, (long)(f[3] - p) + 1);
			goto bad;
		}
		out->n++;
	}
	if (!header) {
		seterr(err, errlen, "%s:1:1: empty: the header device,kind,onset[,end] is needed",
		       path);
		goto bad;
	}
	ret = 0;
	goto out;
bad:
	ret = -EINVAL;
out:
	if (ret)
		lg_labels_free(out);
	return ret;
}

int lg_labels_load(const char *path, struct lg_labels *out, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int ret = read_all(path, &buf, &len, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret)
		return ret;
	ret = labels_parse(buf, len, path, out, err, errlen);
	free(buf);
	return ret;
}

int lg_labels_load_mem(const char *text, size_t len, const char *name, struct lg_labels *out,
		       char *err, size_t errlen)
{
	uint8_t *buf = malloc(len + 1);
	int ret;

	memset(out, 0, sizeof(*out));
	if (!buf) {
		seterr(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (len)
		memcpy(buf, text, len);
	ret = labels_parse(buf, len, name, out, err, errlen);
	free(buf);
	return ret;
}

void lg_labels_free(struct lg_labels *l)
{
	free(l->l);
	memset(l, 0, sizeof(*l));
}

const struct lg_label *lg_labels_find(const struct lg_labels *l, const char *device)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (!strcmp(l->l[i].device, device))
			return &l->l[i];
	return NULL;
}
