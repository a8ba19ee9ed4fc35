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
	"history are not undone (-EBUSY); an unknown one is -ENOENT.\n"
	"\n" LGT_EXIT_STATUS;

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

	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
	return lgt_done("registry");
}
