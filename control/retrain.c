// SPDX-License-Identifier: MIT
/* Retraining after drift (retrain.h; docs/models.md, "Retraining after drift"). */
#include "retrain.h"
#include "ctlproto.h"

#include <linegate/outpath.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define REC_PREFIX "drift"
#define MAX_FILES 256

static void say(struct lg_retrain *r, const struct lg_retrain_env *e, const char *result,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One audit line and one log line; status keeps the last. */
static void say(struct lg_retrain *r, const struct lg_retrain_env *e, const char *result,
		const char *fmt, ...)
{
	char detail[sizeof(r->last) - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(r->last, sizeof(r->last), "%s: %s", result, detail);
	e->audit(e->ctx, result, detail);
	fprintf(stderr, "linegated: retrain %s: %s\n", result, detail);
}

static time_t *cooldown_slot(struct lg_retrain *r, const char *name)
{
	unsigned oldest = 0;

	for (unsigned i = 0; i < r->nrecent; i++) {
		if (!strcmp(r->recent[i].name, name))
			return &r->recent[i].until;
		if (r->recent[i].until < r->recent[oldest].until)
			oldest = i;
	}
	if (r->nrecent < sizeof(r->recent) / sizeof(r->recent[0]))
		oldest = r->nrecent++;
	snprintf(r->recent[oldest].name, sizeof(r->recent[oldest].name), "%s", name);
	r->recent[oldest].until = 0;
	r->recent[oldest].failed = false;
	return &r->recent[oldest].until;
}

/* The index in r->recent of the cooldown slot until (cooldown_slot()). */
static unsigned until_index(const struct lg_retrain *r, const time_t *until)
{
	return (unsigned)(((const char *)until - (const char *)r->recent) / sizeof(r->recent[0]));
}

/*
 * The job of r->device failed after it started (no recording, no trainer, no candidate):
 * the cooldown its start set is cut to LG_RETRAIN_RETRY_S from now (cooldown_seconds when
 * shorter), so that a drift that lasts or comes again is retrained again without waiting
 * hours for nothing (trial X2, s26: a failed retrain held the device off for the whole
 * cooldown, and nothing said so). The seconds, for the failure's audit line.
 */
static unsigned retry_after(struct lg_retrain *r, const struct lg_retrain_env *e)
{
	unsigned cool = e->policy->drift.retrain.cooldown_seconds;
	unsigned wait = cool < LG_RETRAIN_RETRY_S ? cool : LG_RETRAIN_RETRY_S;
	time_t *until = cooldown_slot(r, r->device);

	*until = time(NULL) + (time_t)wait;
	r->recent[until_index(r, until)].failed = true;
	return wait;
}

/* {"cmd":"record","action":action} to the data plane: 0 and the reply, or -errno with err. */
static int record_call(const struct lg_retrain_env *e, const char *action, json_object **reply,
		       char *err, size_t errlen)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string("record"));
	json_object_object_add(req, "action", json_object_new_string(action));
	return e->dp(e->ctx, req, reply, err, errlen);
}

/* Device id's alerts, frames missing from its sequence and frames dropped, from the data
 * plane's stats; known false when it did not say. */
static struct lg_retrain_counts dev_counts(const struct lg_retrain_env *e, uint32_t id)
{
	struct lg_retrain_counts c = { 0 };
	json_object *req = json_object_new_object(), *reply = NULL, *st, *devs, *v;
	char err[256];

	json_object_object_add(req, "cmd", json_object_new_string("stats"));
	if (e->dp(e->ctx, req, &reply, err, sizeof(err)))
		return c;
	if (json_object_object_get_ex(reply, "stats", &st) &&
	    json_object_object_get_ex(st, "devices", &devs) &&
	    json_object_is_type(devs, json_type_array))
		for (size_t i = 0; i < json_object_array_length(devs) && !c.known; i++) {
			json_object *d = json_object_array_get_idx(devs, i);

			if (!json_object_object_get_ex(d, "id", &v) ||
			    (uint32_t)json_object_get_int64(v) != id)
				continue;
			c.known = true;
			if (json_object_object_get_ex(d, "alerts", &v))
				c.alerts = (uint64_t)json_object_get_int64(v);
			if (json_object_object_get_ex(d, "missing", &v))
				c.missing = (uint64_t)json_object_get_int64(v);
			if (json_object_object_get_ex(d, "dropped", &v))
				c.dropped = (uint64_t)json_object_get_int64(v);
		}
	json_object_put(reply);
	return c;
}

/* What the device's counters did while it was recorded, for the candidate's reason: the
 * active model's alerts on the very data the candidate learns from (a fault, or forged
 * frames, learnt as normal), frames missing and dropped. "" when nothing, or not known. */
static void while_recorded(const struct lg_retrain *r, const struct lg_retrain_env *e,
			   char *out, size_t len)
{
	struct lg_retrain_counts now = dev_counts(e, r->id);
	const struct lg_retrain_counts *a = &r->at_start;

	out[0] = '\0';
	if (!a->known || !now.known ||
	    (now.alerts == a->alerts && now.missing == a->missing && now.dropped == a->dropped))
		return;
	snprintf(out, len, "; while it was recorded: %" PRIu64 " alerts of the active model, %"
		 PRIu64 " frames missing from its sequence, %" PRIu64 " dropped%s",
		 now.alerts - a->alerts, now.missing - a->missing, now.dropped - a->dropped,
		 now.alerts > a->alerts ? " (a fault, or frames not the machine's, would be "
					  "learnt as normal: see that the line was healthy then)"
					: "");
}

/* A string member of the reply's "recording" object ("" when absent). */
static const char *rec_str(json_object *reply, const char *key)
{
	json_object *rec, *v;

	if (json_object_object_get_ex(reply, "recording", &rec) &&
	    json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

/* A recording runs already: ride along when it records every device (1), refuse (-1) when
 * it records some, 0 when none runs (or the data plane did not say). */
static int ride_along(struct lg_retrain *r, const struct lg_retrain_env *e, const char *name,
		      uint32_t id, const char *method)
{
	const struct lg_policy_retrain *rt = &e->policy->drift.retrain;
	json_object *reply, *rec, *v, *rot;
	char err[512], origin[64];
	bool all;
	int ret;

	if (record_call(e, "status", &reply, err, sizeof(err)))
		return 0;
	if (strcmp(rec_str(reply, "state"), "recording")) {
		json_object_put(reply);
		return 0;
	}
	all = json_object_object_get_ex(reply, "recording", &rec) &&
	      json_object_object_get_ex(rec, "all_devices", &v) && json_object_get_boolean(v);
	snprintf(origin, sizeof(origin), "%s", rec_str(reply, "origin"));
	json_object_put(reply);
	if (!all) {
		r->failed++;
		say(r, e, "refused", "device %s (id %u): %s drift: a recording of some devices "
		    "(origin %s) runs, and one recording runs at a time: record every device "
		    "(the retrain then uses that recording) or stop it", name, id, method, origin);
		return -1;
	}
	if ((ret = record_call(e, "rotate", &rot, err, sizeof(err)))) {
		r->failed++;
		say(r, e, "refused", "device %s (id %u): %s drift: the recording that runs (origin "
		    "%s) could not be cut: %s", name, id, method, origin, err);
		return -1;
	}
	snprintf(r->first, sizeof(r->first), "%s",
		 json_object_object_get_ex(rot, "next_file", &v) ? json_object_get_string(v) : "");
	json_object_put(rot);
	r->ride = true;
	say(r, e, "recording", "device %s (id %u): %s drift: the recording of every device "
	    "(origin %s) goes on; its files from %s, %u s of them, train the candidate", name,
	    id, method, origin, r->first, rt->record_seconds);
	return 1;
}

void lg_retrain_drift(struct lg_retrain *r, const struct lg_retrain_env *e, const char *name,
		      uint32_t id, const char *method)
{
	const struct lg_policy_retrain *rt = &e->policy->drift.retrain;
	json_object *req, *reply, *devs;
	char err[512];
	time_t now = time(NULL), *until;

	if (!rt->record_seconds)
		return;
	if (r->phase != LG_RETRAIN_IDLE) {
		unsigned k = 0;

		while (k < r->nwaiting && strcmp(r->waiting[k].name, name))
			k++;
		/* waits already, or is the one retrained now: said, not dropped without a word
		 * (trial X4, s27: PSI's start during the device's own retrain left no trace) */
		if (k < r->nwaiting || !strcmp(r->device, name)) {
			r->skipped++;
			if (k < r->nwaiting)
				say(r, e, "skipped", "device %s (id %u): %s drift: it waits already "
				    "for its retrain (%s drift), behind %s's", name, id, method,
				    r->waiting[k].method, r->device);
			else
				say(r, e, "skipped", "device %s (id %u): %s drift: its own retrain "
				    "(%s drift) runs now; its recording holds this drift too", name,
				    id, method, r->method);
			return;
		}
		if (k == sizeof(r->waiting) / sizeof(r->waiting[0])) {
			r->skipped++;
			say(r, e, "skipped", "device %s (id %u): %s drift: a retrain of %s runs, "
			    "and %u more drifts wait their turn", name, id, method, r->device, k);
			return;
		}
		snprintf(r->waiting[k].name, sizeof(r->waiting[k].name), "%s", name);
		snprintf(r->waiting[k].method, sizeof(r->waiting[k].method), "%s", method);
		r->waiting[k].id = id;
		r->nwaiting++;
		say(r, e, "waiting", "device %s (id %u): %s drift: a retrain of %s runs; one at a "
		    "time: its own starts after that one, if its drift lasts", name, id, method,
		    r->device);
		return;
	}
	until = cooldown_slot(r, name);
	if (now < *until) {
		r->skipped++;
		say(r, e, "skipped", "device %s (id %u): %s drift: %s, held off for %ld s more "
		    "(cooldown_seconds %u after a retrain, %u s after a failed one)", name, id,
		    method, r->recent[until_index(r, until)].failed ? "its last retrain failed" :
		    "it was retrained", (long)(*until - now), rt->cooldown_seconds,
		    rt->cooldown_seconds < LG_RETRAIN_RETRY_S ? rt->cooldown_seconds :
		    LG_RETRAIN_RETRY_S);
		return;
	}
	if (!e->candidates || !e->model) {
		r->failed++;
		say(r, e, "refused", "device %s (id %u): %s drift: %s", name, id, method,
		    !e->candidates ? "no model registry (models.registry) for the candidate"
				   : "no active model file to start from");
		return;
	}
	switch (ride_along(r, e, name, id, method)) {
	case -1:
		return;
	case 1:
		*until = now + (time_t)rt->cooldown_seconds;
		r->recent[until_index(r, until)].failed = false;
		r->jobs++;
		r->phase = LG_RETRAIN_RECORDING;
		r->at_start = dev_counts(e, id);
		r->id = id;
		r->deadline = now + rt->record_seconds;
		snprintf(r->device, sizeof(r->device), "%s", name);
		snprintf(r->method, sizeof(r->method), "%s", method);
		return;
	}
	r->ride = false;
	req = json_object_new_object();
	devs = json_object_new_array();
	json_object_array_add(devs, json_object_new_string(name));
	json_object_object_add(req, "cmd", json_object_new_string("record"));
	json_object_object_add(req, "action", json_object_new_string("start"));
	json_object_object_add(req, "devices", devs);
	json_object_object_add(req, "for", json_object_new_int64(rt->record_seconds));
	json_object_object_add(req, "prefix", json_object_new_string(REC_PREFIX));
	json_object_object_add(req, "origin", json_object_new_string("drift"));
	clock_gettime(CLOCK_REALTIME, &r->started);
	r->started.tv_sec -= 1; /* file times are coarser than the clock on some file systems */
	if (e->dp(e->ctx, req, &reply, err, sizeof(err))) {
		r->failed++;
		say(r, e, "refused", "device %s (id %u): %s drift: the data plane did not start "
		    "the recording: %s", name, id, method, err);
		return;
	}
	json_object_put(reply);
	*until = now + (time_t)rt->cooldown_seconds;
	r->recent[until_index(r, until)].failed = false;
	r->jobs++;
	r->phase = LG_RETRAIN_RECORDING;
	r->id = id;
	r->at_start = dev_counts(e, id);
	r->deadline = now + rt->record_seconds + 30;
	snprintf(r->device, sizeof(r->device), "%s", name);
	snprintf(r->method, sizeof(r->method), "%s", method);
	say(r, e, "recording", "device %s (id %u): %s drift: recording it for %u s into %s/"
	    REC_PREFIX "-*.pcapng, then a candidate is trained on it", name, id, method,
	    rt->record_seconds, e->policy->recording.dir);
}

bool lg_retrain_next(struct lg_retrain *r, char *name, size_t len, uint32_t *id, char *method,
		     size_t mlen)
{
	if (r->phase != LG_RETRAIN_IDLE || !r->nwaiting)
		return false;
	snprintf(name, len, "%s", r->waiting[0].name);
	snprintf(method, mlen, "%s", r->waiting[0].method);
	*id = r->waiting[0].id;
	memmove(r->waiting, r->waiting + 1, --r->nwaiting * sizeof(r->waiting[0]));
	return true;
}

/* The recording of this job: true while it runs. */
static bool still_recording(struct lg_retrain *r, const struct lg_retrain_env *e)
{
	json_object *reply;
	char err[512];
	bool running = false;

	if (r->ride)
		return time(NULL) < r->deadline;
	if (record_call(e, "status", &reply, err, sizeof(err)))
		return time(NULL) < r->deadline; /* no answer: wait, up to the deadline */
	if (!strcmp(rec_str(reply, "state"), "recording") &&
	    !strcmp(rec_str(reply, "origin"), "drift"))
		running = time(NULL) < r->deadline;
	json_object_put(reply);
	return running;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files this job recorded: drift-*.pcapng closed since it started, oldest first. */
static size_t job_files(const struct lg_retrain *r, const char *dir, char **files)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!dp)
		return 0;
	while ((de = readdir(dp)) && n < MAX_FILES) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];
		struct stat st;

		if (strncmp(de->d_name, REC_PREFIX "-", sizeof(REC_PREFIX)) || len < 8 ||
		    strcmp(de->d_name + len - 7, ".pcapng"))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    stat(path, &st) || !S_ISREG(st.st_mode) ||
		    st.st_mtim.tv_sec < r->started.tv_sec)
			continue;
		if (!(files[n] = strdup(path)))
			break;
		n++;
	}
	closedir(dp);
	qsort(files, n, sizeof(*files), cmp_str);
	return n;
}

/* Riding along: the closed files of the recording's prefix from r->first up to end ("": to
 * the last closed one), by name (PREFIX-YYYYmmddTHHMMSSZ-NNNNNN.pcapng sorts in time). */
static size_t ride_files(const struct lg_retrain *r, const char *end, char **files)
{
	const char *base = strrchr(r->first, '/');
	size_t blen, plen, n = 0;
	char dir[4096];
	DIR *dp;
	struct dirent *de;

	if (!base)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - r->first), r->first);
	base++;
	end = end[0] && strrchr(end, '/') ? strrchr(end, '/') + 1 : end;
	blen = strlen(base);
	if (blen <= 31) /* "-" + the stamp + "-" + the number + ".pcapng" */
		return 0;
	plen = blen - 31 + 1; /* the prefix and its '-' */
	if (!(dp = opendir(dir)))
		return 0;
	while ((de = readdir(dp)) && n < MAX_FILES) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];

		if (len != blen || strncmp(de->d_name, base, plen) ||
		    strcmp(de->d_name + len - 7, ".pcapng") || strcmp(de->d_name, base) < 0 ||
		    (end[0] && strcmp(de->d_name, end) >= 0))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (!(files[n] = strdup(path)))
			break;
		n++;
	}
	closedir(dp);
	qsort(files, n, sizeof(*files), cmp_str);
	return n;
}

/* "1,3" from a CPU set. */
static void cpus_text(const cpu_set_t *s, char *out, size_t len)
{
	size_t u = 0;

	out[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && u < len; c++)
		if (CPU_ISSET(c, s))
			u += (size_t)snprintf(out + u, len - u, "%s%d", u ? "," : "", c);
}

/* The environment for the trainer: linegated's, with one BLAS thread. */
static char **trainer_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21))
			env[k++] = environ[i];
	env[k++] = "OPENBLAS_NUM_THREADS=1";
	env[k] = NULL;
	return env;
}

/* The name of the candidate: the active model's registry name, else its file stem (a
 * reference "name@version" is cut at the '@'). */
static void model_stem(const char *model, char *out, size_t len)
{
	const char *b = strrchr(model, '/');
	size_t k;

	b = b ? b + 1 : model;
	k = strcspn(b, ".@");
	snprintf(out, len, "%.*s", (int)(k < 48 ? k : 48), b);
	if (!out[0])
		snprintf(out, len, "model");
}

static void start_training(struct lg_retrain *r, const struct lg_retrain_env *e)
{
	const struct lg_policy *p = e->policy;
	char *files[MAX_FILES], window[16], minw[16], reason[640], name[64], stamp[32];
	char during[400];
	char why[PATH_MAX + 300] = "", cpus[256], wcores[256] = "";
	const char *argv[2 * MAX_FILES + 32];
	char end[4096] = "";
	size_t n, a = 0;
	cpu_set_t all, set;
	char **env = NULL;
	int pfd[2] = { -1, -1 }, fd = -1, cerr = 0, prio;
	time_t now = time(NULL);
	struct tm tm;
	pid_t pid;

	r->phase = LG_RETRAIN_IDLE;
	if (r->ride) {
		json_object *rot, *v;
		char err[512];

		/* The second cut: what was recorded until now is in closed files. A recording
		 * that stopped meanwhile left its files closed: take them all. */
		if (!record_call(e, "rotate", &rot, err, sizeof(err))) {
			if (json_object_object_get_ex(rot, "next_file", &v))
				snprintf(end, sizeof(end), "%s", json_object_get_string(v));
			json_object_put(rot);
		}
		n = ride_files(r, end, files);
	} else {
		n = job_files(r, p->recording.dir, files);
	}
	if (!n) {
		r->failed++;
		json_object *st = NULL;
		char said[400] = "", serr[256];

		/* the recording's own word first: "stopped: write ...: No space left on device"
		 * (trial X4, s27: three possible causes named, the real one not) */
		if (!record_call(e, "status", &st, serr, sizeof(serr))) {
			const char *s = rec_str(st, "state");

			if (!strncmp(s, "stopped: ", 9))
				snprintf(said, sizeof(said), ": the recording %.300s", s);
			json_object_put(st);
		}
		say(r, e, "failed", "device %s: the recording left no file in %s%s%s; a new drift "
		    "retrains it after %u s", r->device, p->recording.dir, said,
		    said[0] ? "" : " (a full disk, no frame of the device, or the running "
		    "recording it rode along removed them to stay under "
		    "recording.max_total_bytes: linegatectl record status)", retry_after(r, e));
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(r->log, sizeof(r->log), "%s/retrain-%s.log", e->log_dir, stamp);
	snprintf(window, sizeof(window), "%u", p->window);
	snprintf(minw, sizeof(minw), "%u", p->drift.retrain.min_windows);
	if (e->model_ref && strchr(e->model_ref, '@'))
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(e->model_ref, '@') - e->model_ref),
			 e->model_ref);
	else
		model_stem(e->model, name, sizeof(name));
	while_recorded(r, e, during, sizeof(during));
	snprintf(reason, sizeof(reason), "%s drift on %s: trained on the %u s recorded after it%s",
		 r->method, r->device, p->drift.retrain.record_seconds, during);
	argv[a++] = e->train_bin;
	for (size_t i = 0; i < n; i++) {
		argv[a++] = "--from";
		argv[a++] = files[i];
	}
	argv[a++] = "--policy";
	argv[a++] = e->policy_path;
	argv[a++] = "-w";
	argv[a++] = window;
	argv[a++] = "--min-windows";
	argv[a++] = minw;
	argv[a++] = "--only-device";
	argv[a++] = r->device;
	/* its own recording: a file a crash cut inside its last record is read up to there */
	argv[a++] = "--allow-cut";
	argv[a++] = "--base";
	argv[a++] = e->model;
	argv[a++] = "--compare";
	argv[a++] = e->model;
	argv[a++] = "--candidate-dir";
	argv[a++] = e->candidates;
	argv[a++] = "--name";
	argv[a++] = name;
	argv[a++] = "--reason";
	argv[a++] = reason;
	argv[a] = NULL;

	/* Off the workers' cores, at the lowest priority there is. */
	CPU_ZERO(&all);
	sched_getaffinity(0, sizeof(all), &all);
	set = all;
	for (unsigned i = 0; i < p->ncores; i++) {
		CPU_CLR((int)p->cores[i], &set);
		snprintf(wcores + strlen(wcores), sizeof(wcores) - strlen(wcores), "%s%u",
			 i ? "," : "", p->cores[i]);
	}
	if (!CPU_COUNT(&set))
		set = all; /* every core has a worker (or none is pinned): SCHED_IDLE only */
	env = trainer_env();
	errno = 0;
	fd = env ? lg_outpath_open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0640, why, sizeof(why))
		 : -ENOMEM;
	if (!env || fd < 0 || pipe2(pfd, O_CLOEXEC)) {
		if (!env || fd >= 0) /* lg_outpath_open() said why, naming the file */
			snprintf(why, sizeof(why), "%s", strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		goto fail;
	}
	if (!pid) {
		struct sched_param sp = { 0 };
		int x;

		close(pfd[0]);
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || sched_setaffinity(0, sizeof(set), &set) ||
		    setpriority(PRIO_PROCESS, 0, 19) || sched_setscheduler(0, SCHED_IDLE, &sp))
			goto child_fail;
		execve(e->train_bin, (char *const *)argv, env);
child_fail:
		x = errno;
		if (write(pfd[1], &x, sizeof(x)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	pfd[1] = -1;
	/* EOF: exec'd; an int: why it could not be */
	while (read(pfd[0], &cerr, sizeof(cerr)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	pfd[0] = -1;
	if (cerr) {
		waitpid(pid, NULL, 0);
		snprintf(why, sizeof(why), "%s: %s", e->train_bin, strerror(cerr));
		goto fail;
	}
	r->pid = pid;
	r->phase = LG_RETRAIN_TRAINING;
	/* What the process really runs with, read back from the kernel. */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)pid);
	CPU_ZERO(&set);
	sched_getaffinity(pid, sizeof(set), &set);
	cpus_text(&set, cpus, sizeof(cpus));
	say(r, e, "training", "device %s: linegate-train (pid %d, nice %d, %s, cpus %s; worker "
	    "cores %s) on %zu file(s), log %s", r->device, (int)pid, prio,
	    sched_getscheduler(pid) == SCHED_IDLE ? "SCHED_IDLE" : "not SCHED_IDLE", cpus,
	    wcores[0] ? wcores : "not pinned", n, r->log);
	goto out;
fail:
	r->failed++;
	say(r, e, "failed", "device %s: the trainer did not start: %s; a new drift retrains it "
	    "after %u s", r->device, why, retry_after(r, e));
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (fd >= 0)
		close(fd);
	free(env);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
}

/* The candidate's id from the trainer's output, "" when it printed none; and its last line. */
static void read_log(const char *path, char *id, size_t idlen, char *last, size_t lastlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	id[0] = last[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(last, lastlen, "%.*s", (int)(lastlen - 1), line);
		if (!strncmp(line, "candidate ", 10) && strchr(line + 10, ':'))
			snprintf(id, idlen, "%.*s", (int)(strchr(line + 10, ':') - line - 10),
				 line + 10);
	}
	fclose(f);
}

/* "0.100% (1 of 1000)" from an evaluation's false-alarm object. */
static void fa_text(json_object *o, char *out, size_t len)
{
	json_object *k, *n, *rate;

	if (o && json_object_object_get_ex(o, "not_judged", &k))
		snprintf(out, len, "not compared (no held-back window it did not learn from)");
	else if (!o || !json_object_object_get_ex(o, "false_alarms", &k) ||
	    !json_object_object_get_ex(o, "windows", &n) ||
	    !json_object_object_get_ex(o, "rate", &rate))
		snprintf(out, len, "?");
	else
		snprintf(out, len, "%.3f%% (%lld of %lld)", 100 * json_object_get_double(rate),
			 (long long)json_object_get_int64(k), (long long)json_object_get_int64(n));
}

/* The SHA-256 of the file at path, in hex: 0, or -errno. */
static int file_sha256(const char *path, char hex[65])
{
	char *text;
	size_t len;
	int rc = lg_read_file(path, &text, &len);

	if (rc)
		return rc;
	lg_sha256_hex(text, len, hex);
	free(text);
	return 0;
}

bool lg_cand_note_get(const char *dir, const char *sub, const char *id, char *line, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	bool got;

	if (!dir || strchr(id, '/') || id[0] == '.')
		return false;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	f = fopen(path, "r");
	if (!f)
		return false;
	got = fgets(line, (int)len, f) != NULL;
	fclose(f);
	if (got)
		line[strcspn(line, "\n")] = '\0';
	return got;
}

int lg_cand_note_put(const char *dir, const char *sub, const char *id, const char *line,
		     char *err, size_t errlen)
{
	char path[PATH_MAX];
	FILE *f;
	bool bad;

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	f = lg_outpath_fopen(path, "w", err, errlen);
	if (!f)
		return -EIO;
	bad = fprintf(f, "%s\n", line) < 0;
	if (fclose(f) || bad) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

enum lg_cand_origin lg_retrain_origin(const char *log_dir, const char *id, const char *eval_path)
{
	char want[80], got[65];

	if (!lg_cand_note_get(log_dir, LG_RETRAIN_MADE_DIR, id, want, sizeof(want)))
		return LG_CAND_OTHER;
	if (file_sha256(eval_path, got) || strcmp(got, want))
		return LG_CAND_RETRAIN_CHANGED;
	return LG_CAND_RETRAIN;
}

/* Candidate id was made by this retrain: its evaluation.json's digest, kept in the state
 * folder (0700: linegated's own), for lg_retrain_origin(). When that fails, note says so
 * for the candidate's audit line ("" when it did not). */
static void record_made(const struct lg_retrain_env *e, const char *id, const char *eval_path,
			char *note, size_t len)
{
	char hex[65], err[256];
	int rc;

	note[0] = '\0';
	if (!e->log_dir)
		return;
	rc = file_sha256(eval_path, hex);
	if (rc)
		snprintf(err, sizeof(err), "%.200s: %s", eval_path, strerror(-rc));
	else if (!lg_cand_note_put(e->log_dir, LG_RETRAIN_MADE_DIR, id, hex, err, sizeof(err)))
		return;
	snprintf(note, len, " (not recorded as this retrain's: %s; it lists as made by another, "
		 "and approve says so)", err);
}

static void training_done(struct lg_retrain *r, const struct lg_retrain_env *e, int status)
{
	char id[128], last[512], path[PATH_MAX], cand[64] = "?", act[96] = "?", note[600] = "";
	json_object *ev, *o;

	r->phase = LG_RETRAIN_IDLE;
	r->pid = 0;
	read_log(r->log, id, sizeof(id), last, sizeof(last));
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !id[0]) {
		r->failed++;
		if (WIFSIGNALED(status))
			say(r, e, "failed", "device %s: linegate-train ended by signal %d (log %s); "
			    "a new drift retrains it after %u s", r->device, WTERMSIG(status),
			    r->log, retry_after(r, e));
		else
			say(r, e, "failed", "device %s: linegate-train: %.300s (log %s); a new drift "
			    "retrains it after %u s", r->device,
			    !last[0] ? "no output" :
			    !strncmp(last, "linegate-train: ", 16) ? last + 16 : last, /* once */
			    r->log, retry_after(r, e));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/evaluation.json", e->candidates, id);
	if (!strchr(id, '/') && id[0] != '.') /* a folder name of candidates/ */
		record_made(e, id, path, note, sizeof(note));
	ev = json_object_from_file(path);
	if (ev && json_object_object_get_ex(ev, "candidate", &o))
		fa_text(o, cand, sizeof(cand));
	if (ev && json_object_object_get_ex(ev, "active", &o))
		fa_text(o, act, sizeof(act));
	json_object_put(ev);
	r->candidates++;
	/* Judged on the recording after the drift, every window taken as healthy: a fault the
	 * candidate learnt as normal scores low there too, so these are no false alarms. */
	say(r, e, "candidate", "device %s: candidate %s%s; alarms on the held-back windows after "
	    "the drift, all taken as healthy: candidate %s, active model %s (a fault learnt as "
	    "normal scores low too: approve only a change known to be benign, e.g. a sensor swap "
	    "or a new set point); linegatectl models show %s", r->device, id, note, cand, act, id);
}

void lg_retrain_tick(struct lg_retrain *r, const struct lg_retrain_env *e)
{
	int status;
	pid_t w;

	if (r->phase == LG_RETRAIN_RECORDING && !still_recording(r, e)) {
		start_training(r, e);
	} else if (r->phase == LG_RETRAIN_TRAINING) {
		w = waitpid(r->pid, &status, WNOHANG);
		if (w == r->pid)
			training_done(r, e, status);
		else if (w < 0 && errno == ECHILD) {
			r->phase = LG_RETRAIN_IDLE;
			r->failed++;
			say(r, e, "failed", "device %s: the trainer (pid %d) is gone; a new drift "
			    "retrains it after %u s", r->device, (int)r->pid, retry_after(r, e));
		}
	}
}

void lg_retrain_stop(struct lg_retrain *r, const struct lg_retrain_env *e)
{
	if (r->phase != LG_RETRAIN_TRAINING)
		return;
	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	r->phase = LG_RETRAIN_IDLE;
	r->failed++;
	say(r, e, "stopped", "device %s: linegated stops: linegate-train (pid %d) ended, no "
	    "candidate (its recording stays in %s)", r->device, (int)r->pid,
	    e->policy->recording.dir);
}

json_object *lg_retrain_status(const struct lg_retrain *r)
{
	static const char *const phases[] = { "idle", "recording", "training" };
	json_object *o = json_object_new_object();

	json_object_object_add(o, "phase", json_object_new_string(phases[r->phase]));
	if (r->phase != LG_RETRAIN_IDLE)
		json_object_object_add(o, "device", json_object_new_string(r->device));
	json_object_object_add(o, "jobs", json_object_new_uint64(r->jobs));
	json_object_object_add(o, "candidates", json_object_new_uint64(r->candidates));
	json_object_object_add(o, "failed", json_object_new_uint64(r->failed));
	json_object_object_add(o, "skipped", json_object_new_uint64(r->skipped));
	json_object_object_add(o, "last", json_object_new_string(r->last));
	if (r->nwaiting) {
		json_object *w = json_object_new_array();

		for (unsigned k = 0; k < r->nwaiting; k++)
			json_object_array_add(w, json_object_new_string(r->waiting[k].name));
		json_object_object_add(o, "waiting", w);
	}
	return o;
}
