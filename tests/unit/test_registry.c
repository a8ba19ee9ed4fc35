// SPDX-License-Identifier: MIT
/*
 * The model registry's undo of an add (control/registry.h, lg_registry_undo_add()): what
 * linegated does when a version added by "models approve" is refused as a shadow. The undo
 * takes the version out whole, so that the same version can be added again; it refuses a
 * version that is or was active or shadow (versions that ran are immutable).
 */
#include "registry.h"

#include <linegate/policy.h>
#include <linegate/sign.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_registry\n"
	"\n"
	"The model registry (control/registry.c): a signed version added and undone is gone\n"
	"(folder and all) and can be added again; the active, the shadow and a version in the\n"
	"history are not undone (-EBUSY); an unknown one is -ENOENT. The active and shadow\n"
	"models are checked against a policy, a refusal naming the model and its file.\n"
	"\n" LGT_EXIT_STATUS;

/* A stand-in for lg_policy_check_model(): refuses line@3's file, records what it saw. */
static char checked[2][512];
static int nchecked;

static int check_stub(const struct lg_policy *p, const char *path, char *err, size_t errlen)
{
	(void)p;
	if (nchecked < 2)
		snprintf(checked[nchecked++], sizeof(checked[0]), "%s", path);
	if (strstr(path, "/line/3/")) {
		snprintf(err, errlen, "%s: the model has no detector for device c (id 3)", path);
		return -ENOENT;
	}
	return 0;
}

static bool exists(const char *root, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return !access(p, F_OK);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/test_registry.XXXXXX", root[128], art[128], sigp[160], err[512];
	static struct lg_policy p;
	uint8_t pk[LG_SIGN_PK_LEN], sk[LG_SIGN_SK_LEN], sig[LG_SIGN_SIG_LEN];
	static const char model[] = "{\"not\":\"checked here\"}\n";
	struct lg_registry r;
	FILE *f;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(lg_sign_init(), 0);
	CHECK_EQ(lg_sign_keygen(pk, sk), 0);
	memcpy(p.model_keys[0], pk, sizeof(pk));
	p.nmodel_keys = 1;
	snprintf(art, sizeof(art), "%s/m.json", dir);
	f = fopen(art, "w");
	CHECK(f && fputs(model, f) >= 0 && !fclose(f));
	CHECK_EQ(lg_sign_buf(sk, model, strlen(model), sig), 0);
	snprintf(sigp, sizeof(sigp), "%s.sig", art);
	CHECK_EQ(lg_hex_write_file(sigp, sig, sizeof(sig), 0644), 0);
	snprintf(root, sizeof(root), "%s/reg", dir);
	CHECK_EQ(lg_registry_open(&r, root, err, sizeof(err)), 0);

	/* added, undone: gone with its folder (and the name's, its only version) */
	CHECK_EQ(lg_registry_add(&r, &p, "line", "1", art, NULL, err, sizeof(err)), 0);
	CHECK(exists(root, "line/1/meta.json"));
	CHECK_EQ(lg_registry_add(&r, &p, "line", "1", art, NULL, err, sizeof(err)), -EEXIST);
	CHECK_EQ(lg_registry_undo_add(&r, "line@1", err, sizeof(err)), 0);
	CHECK_STR(err, "line@1 taken out of the registry again");
	CHECK(!exists(root, "line/1") && !exists(root, "line/.1.undo") && !exists(root, "line"));
	CHECK_EQ(lg_registry_path(&r, "line@1", art, sizeof(art), err, sizeof(err)), -ENOENT);
	/* ... so the same version is added again (a retry of the approval) */
	snprintf(art, sizeof(art), "%s/m.json", dir);
	CHECK_EQ(lg_registry_add(&r, &p, "line", "1", art, NULL, err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_add(&r, &p, "line", "2", art, NULL, err, sizeof(err)), 0);
	/* undoing one version keeps the name's others */
	CHECK_EQ(lg_registry_undo_add(&r, "line@2", err, sizeof(err)), 0);
	CHECK(exists(root, "line/1/meta.json") && !exists(root, "line/2"));
	CHECK_EQ(lg_registry_undo_add(&r, "line@2", err, sizeof(err)), -ENOENT);

	/* versions that ran stay: active, shadow, history */
	CHECK_EQ(lg_registry_add(&r, &p, "line", "3", art, NULL, err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_set_active(&r, "line@1", true, err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_undo_add(&r, "line@1", err, sizeof(err)), -EBUSY);
	CHECK_STR(err, "line@1 is the active model: it stays");
	CHECK_EQ(lg_registry_set_shadow(&r, "line@3", err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_undo_add(&r, "line@3", err, sizeof(err)), -EBUSY);
	CHECK_STR(err, "line@3 is the shadow model: it stays");
	CHECK_EQ(lg_registry_set_shadow(&r, NULL, err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_set_active(&r, "line@3", true, err, sizeof(err)), 0);
	CHECK_EQ(lg_registry_undo_add(&r, "line@1", err, sizeof(err)), -EBUSY);
	CHECK_STR(err, "line@1 was active before: it stays");
	CHECK(exists(root, "line/1/meta.json") && exists(root, "line/3/meta.json"));
	CHECK_EQ(lg_registry_undo_add(&r, "nonsense", err, sizeof(err)), -EINVAL);

	/* the models that run while the policy keeps detection.model: the active and the
	 * shadow, each checked against the policy, the refusal naming the model and its file;
	 * read back as linegatectl validate reads it (lg_registry_read(): creates nothing) */
	CHECK_EQ(lg_registry_set_shadow(&r, "line@1", err, sizeof(err)), 0);
	{
		struct lg_registry back;
		char none[160];

		CHECK_EQ(lg_registry_read(&back, root, err, sizeof(err)), 0);
		CHECK_STR(back.active, "line@3");
		CHECK_STR(back.shadow, "line@1");
		CHECK_EQ(lg_registry_check_policy(&back, &p, check_stub, err, sizeof(err)), -ENOENT);
		CHECK_STR_CONTAINS(err, "the registry's active model line@3 cannot serve the policy: ");
		CHECK_STR_CONTAINS(err, "/reg/line/3/m.json: the model has no detector for device c");
		CHECK_EQ(lg_registry_set_active(&r, "line@1", true, err, sizeof(err)), 0);
		CHECK_EQ(lg_registry_set_shadow(&r, "line@3", err, sizeof(err)), 0);
		CHECK_EQ(lg_registry_read(&back, root, err, sizeof(err)), 0);
		nchecked = 0;
		CHECK_EQ(lg_registry_check_policy(&back, &p, check_stub, err, sizeof(err)), -ENOENT);
		CHECK_STR_CONTAINS(err, "the registry's shadow model line@3 cannot serve the policy");
		CHECK_EQ(nchecked, 2);
		CHECK_STR_CONTAINS(checked[0], "/reg/line/1/m.json");
		/* served by both: 0 */
		CHECK_EQ(lg_registry_set_shadow(&r, NULL, err, sizeof(err)), 0);
		CHECK_EQ(lg_registry_read(&back, root, err, sizeof(err)), 0);
		CHECK_EQ(lg_registry_check_policy(&back, &p, check_stub, err, sizeof(err)), 0);
		/* a registry without state: -ENOENT, and nothing made */
		snprintf(none, sizeof(none), "%s/none", dir);
		CHECK_EQ(lg_registry_read(&back, none, err, sizeof(err)), -ENOENT);
		CHECK(access(none, F_OK) != 0);
	}

	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
	return lgt_done("registry");
}
