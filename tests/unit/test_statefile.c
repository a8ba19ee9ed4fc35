// SPDX-License-Identifier: MIT
/* The state folder: high-water marks survive the process (a second mapping of the same file
 * sees every store, as a restarted linegate does), the applied policy is returned only while
 * the boot file keeps the hash it had, and the folder's mode is checked. */
#include "statefile.h"
#include "incident.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_statefile\n"
	"\n"
	"The state folder (dataplane/statefile.c): replay high-water marks kept per device id\n"
	"across two opens, the last applied policy used only while the boot file is unchanged,\n"
	"atomic replacement, and a folder others may write refused.\n"
	"\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	char dir[] = "/tmp/lg-state-test.XXXXXX", sub[64], err[512] = "", why[512] = "";
	uint8_t boot1[32] = { 1 }, boot2[32] = { 2 };
	struct lg_state *a, *b;
	_Atomic uint64_t *h101, *h102;
	char *text = NULL, *name = NULL;
	size_t len = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/s", dir);

	CHECK_EQ(lg_state_open(sub, &a, err, sizeof(err)), 0);
	{
		struct stat sb;

		CHECK_EQ(stat(sub, &sb), 0);
		CHECK_EQ(sb.st_mode & 0777, 0700);
	}
	h101 = lg_state_hwm(a, 101);
	h102 = lg_state_hwm(a, 102);
	CHECK(h101 && h102 && h101 != h102);
	CHECK(lg_state_hwm(a, 101) == h101);
	CHECK(lg_state_hwm(a, 0) == NULL);
	atomic_store(h101, 12000);
	atomic_store(h102, 7);
	/* incidents: a slot a device, kept like the marks */
	{
		struct lg_inc_rec *r101 = lg_state_incident(a, 101), *r102 = lg_state_incident(a, 102);

		CHECK(r101 && r102 && r101 != r102);
		CHECK(lg_state_incident(a, 101) == r101);
		CHECK(lg_state_incident(a, 0) == NULL);
		CHECK(lg_state_incident(NULL, 101) == NULL);
		r101->open = 1;
		r101->counter = 3;
		r101->onset_ns = 1764892800000000000ull;
		snprintf(r101->id, sizeof(r101->id), "press-1-20251205T000000Z-3");
		r102->open = 1; /* damaged: an id no run makes */
		snprintf(r102->id, sizeof(r102->id), "x\",\"y");
	}
	/* No policy applied yet: the boot file, and why. */
	lg_state_set_boot(a, boot1, "/etc/linegate/policy.yaml");
	CHECK_EQ(lg_state_load_policy(a, &text, &len, &name, why, sizeof(why)), 0);
	CHECK_STR_CONTAINS(why, "no policy was applied since the state folder");
	CHECK_EQ(lg_state_save_policy(a, "version: 1\n", 11, "/etc/linegate/policy.yaml"), 0);
	CHECK_EQ(lg_state_save_policy(a, "version: 1\nport: 5\n", 19, "/etc/linegate/p.yaml"), 0);
	CHECK_EQ(access(sub, F_OK), 0);
	{
		char tmp[128];

		snprintf(tmp, sizeof(tmp), "%s/applied.json.tmp", sub);
		CHECK_EQ(access(tmp, F_OK), -1); /* renamed, not left behind */
	}

	/* A second open, as after kill -9: the marks and the policy are there. */
	CHECK_EQ(lg_state_open(sub, &b, err, sizeof(err)), 0);
	CHECK_EQ(atomic_load(lg_state_hwm(b, 101)), 12000);
	CHECK_EQ(atomic_load(lg_state_hwm(b, 102)), 7);
	CHECK_EQ(atomic_load(lg_state_hwm(b, 103)), 0);
	{
		struct lg_inc_rec *r = lg_state_incident(b, 101);

		CHECK(r && r->open == 1 && r->counter == 3 && r->onset_ns == 1764892800000000000ull);
		CHECK(r && !strcmp(r->id, "press-1-20251205T000000Z-3"));
		r = lg_state_incident(b, 102);
		CHECK(r && r->open == 0 && r->id[0] == '\0');
		r = lg_state_incident(b, 103);
		CHECK(r && r->open == 0 && r->counter == 0);
	}
	lg_state_set_boot(b, boot1, "/etc/linegate/policy.yaml");
	CHECK_EQ(lg_state_load_policy(b, &text, &len, &name, why, sizeof(why)), 1);
	CHECK_STR_CONTAINS(why, "/applied.json): the boot file /etc/linegate/policy.yaml is "
				"unchanged since");
	CHECK_EQ(len, 19u);
	CHECK(text && !strcmp(text, "version: 1\nport: 5\n"));
	CHECK(name && !strcmp(name, "/etc/linegate/p.yaml"));
	free(text);
	free(name);
	text = name = NULL;
	/* The boot file was edited since: it wins. */
	lg_state_set_boot(b, boot2, "/etc/linegate/policy.yaml");
	CHECK_EQ(lg_state_load_policy(b, &text, &len, &name, why, sizeof(why)), 0);
	CHECK(!strcmp(why, "the boot file /etc/linegate/policy.yaml: it changed since the last "
			   "apply"));
	CHECK(text == NULL && name == NULL);
	/* Started with another file (--policy): said so, naming both; with other text it is
	 * used, with the text the last apply's boot file had the applied policy still is. */
	lg_state_set_boot(b, boot2, "/srv/line/other.yaml");
	CHECK_EQ(lg_state_load_policy(b, &text, &len, &name, why, sizeof(why)), 0);
	CHECK(!strcmp(why, "started with another policy file (/srv/line/other.yaml) than the one "
			   "of the last apply (/etc/linegate/policy.yaml): using "
			   "/srv/line/other.yaml"));
	CHECK(text == NULL && name == NULL);
	lg_state_set_boot(b, boot1, "/srv/line/other.yaml");
	CHECK_EQ(lg_state_load_policy(b, &text, &len, &name, why, sizeof(why)), 1);
	CHECK_STR_CONTAINS(why, "/applied.json): started with another policy file "
				"(/srv/line/other.yaml) than the one of the last apply "
				"(/etc/linegate/policy.yaml), but with the same text, so the "
				"applies since are newer");
	free(text);
	free(name);
	text = name = NULL;
	lg_state_close(b);
	lg_state_close(a);

	/* A state file replaced by a symbolic link (by whoever may write the folder: the
	 * service user) is refused, naming the file and saying it is a link; the file behind
	 * it is neither read nor written. applied.json so refused is not the boot file's
	 * error: the start is refused (main.c). */
	{
		static const char vtext[] = "{\"boot_sha256\": \"\", \"name\": \"v\", "
					    "\"text\": \"v\"}";
		char victim[128], link[128], path[128];
		struct stat sb;
		int fd;

		snprintf(victim, sizeof(victim), "%s/victim", dir);
		fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0 &&
		      write(fd, vtext, sizeof(vtext) - 1) == (ssize_t)sizeof(vtext) - 1);
		close(fd);
		CHECK_EQ(lg_state_open(sub, &a, err, sizeof(err)), 0);
		snprintf(link, sizeof(link), "%s/applied.json", sub);
		unlink(link);
		CHECK_EQ(symlink(victim, link), 0);
		lg_state_set_boot(a, boot1, "/etc/linegate/policy.yaml");
		CHECK_EQ(lg_state_load_policy(a, &text, &len, &name, why, sizeof(why)), -ELOOP);
		snprintf(path, sizeof(path), "%s/applied.json is a symbolic link: refused", sub);
		CHECK_STR_CONTAINS(why, path);
		CHECK(text == NULL && name == NULL);
		CHECK_EQ(lg_state_last_applied(a, &text, &len, &name, err, sizeof(err)), -ELOOP);
		CHECK_STR_CONTAINS(err, path);
		CHECK(text == NULL && name == NULL);
		/* a save replaces the link, never writes through it */
		CHECK_EQ(lg_state_save_policy(a, "x", 1, "p.yaml"), 0);
		CHECK_EQ(lstat(link, &sb), 0);
		CHECK(S_ISREG(sb.st_mode));
		lg_state_close(a);
		for (int i = 0; i < 2; i++) {
			const char *f = i ? "incidents.state" : "replay.hwm";

			snprintf(link, sizeof(link), "%s/%s", sub, f);
			CHECK_EQ(unlink(link), 0);
			CHECK_EQ(symlink(victim, link), 0);
			CHECK(lg_state_open(sub, &a, err, sizeof(err)) == -ELOOP);
			snprintf(path, sizeof(path), "%s/%s is a symbolic link: refused", sub, f);
			CHECK_STR_CONTAINS(err, path);
			CHECK_EQ(unlink(link), 0);
			CHECK_EQ(lg_state_open(sub, &a, err, sizeof(err)), 0);
			lg_state_close(a);
		}
		CHECK_EQ(stat(victim, &sb), 0);
		CHECK_EQ(sb.st_size, (off_t)sizeof(vtext) - 1);
	}

	/* A folder others may write is refused, with the fix. */
	CHECK_EQ(chmod(sub, 0777), 0);
	CHECK_EQ(lg_state_open(sub, &a, err, sizeof(err)), -EPERM);
	CHECK_STR_CONTAINS(err, "group or others may write it (mode 777): chmod 700");
	CHECK(!strncmp(err, "state folder ", 13)); /* not "--state-dir": it may come from
						    * $STATE_DIRECTORY (trial N, s22) */

	/* A folder that cannot be made: the parent is what refused, said with the user. */
	{
		char file[96], under[128];
		FILE *f;

		snprintf(file, sizeof(file), "%s/plain", dir);
		snprintf(under, sizeof(under), "%s/state", file);
		f = fopen(file, "w");
		CHECK(f != NULL);
		if (f)
			fclose(f);
		CHECK_EQ(lg_state_open(under, &a, err, sizeof(err)), -ENOTDIR);
		CHECK_STR_CONTAINS(err, "cannot create it in its parent folder");
		CHECK_STR_CONTAINS(err, "as systemd's StateDirectory= does");
	}

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
	return lgt_done("statefile");
}
