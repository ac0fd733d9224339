/*
 * cmd_keys.c - berth keys rotate: re-encrypts every stored upstream key
 * (and the runner's stored AI provider tokens) under the current master
 * key, without downtime.
 *
 * The procedure (docs/SECURITY.md): start the responders with the new key
 * as $BERTH_ENCRYPTION_KEY and the old one as $BERTH_ENCRYPTION_KEY_OLD
 * (they open secrets under either and seal under the new one); run
 * `berth keys rotate` with the same two keys; when it reports nothing
 * left under the old key, drop the old key from the responders.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "aicred.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "session.h"

#define CMD_KEYS_BATCH 100

int
cmd_keys(int argc, char **argv, const char *config_path)
{
	struct crypto_key cur, old;
	struct config *cfg = NULL;
	struct db *db = NULL;
	struct json_object *d;
	long long after = 0, seen = 0, done = 0, failed = 0;
	char buf[512];
	const char *why;
	int status = 1;
	bool ai = false;
	berr rc;

	memset(&cur, 0, sizeof(cur));
	memset(&old, 0, sizeof(old));
	if (argc != 2 || strcmp(argv[1], "rotate") != 0) {
		fprintf(stderr, "usage: berth keys rotate\n");
		return 2;
	}
	if (cmd_common_open("keys", config_path, &cfg, &db) != 0)
		goto out;
	if (crypto_key_load(cfg, &cur, buf, sizeof(buf), &why) != OK) {
		fprintf(stderr, "berth keys rotate: new key: %s\n", why);
		goto out;
	}
	if (crypto_key_load_old(cfg, &old, buf, sizeof(buf), &why) != OK) {
		fprintf(stderr, "berth keys rotate: old key: %s\n", why);
		goto out;
	}
	if (strcmp(cur.id, old.id) == 0) {
		fprintf(stderr,
		    "berth keys rotate: the old and the new key "
		    "are the same (%s)\n",
		    cur.id);
		goto out;
	}
	cur.previous = &old;
	do {
		if ((rc = session_reseal(db, &cur, CMD_KEYS_BATCH, &after,
		         &seen, &done, &failed)) != OK) {
			fprintf(stderr,
			    "berth keys rotate: %s after %lld "
			    "re-encrypted\n",
			    err_str(rc), done);
			goto out;
		}
	} while (seen > 0);
	/* The runner's stored AI provider tokens (aicred.h). */
	if ((rc = aicred_reseal(db, &cur, "anthropic", &ai)) != OK) {
		fprintf(stderr,
		    "berth keys rotate: the stored anthropic tokens: %s "
		    "(log in again with berth auth anthropic login)\n",
		    err_str(rc));
		failed++;
	}
	if ((d = json_object_new_object()) != NULL) {
		json_object_object_add(
		    d, "old_key_id", json_object_new_string(old.id));
		json_object_object_add(
		    d, "new_key_id", json_object_new_string(cur.id));
		json_object_object_add(
		    d, "reencrypted", json_object_new_int64(done));
		json_object_object_add(
		    d, "unreadable", json_object_new_int64(failed));
		json_object_object_add(
		    d, "ai_credentials", json_object_new_boolean(ai));
	}
	if ((rc = cmd_common_audit(db, "keys.rotate", "encryption", NULL, d)) !=
	    OK)
		fprintf(stderr, "berth keys rotate: audit failed: %s\n",
		    err_str(rc));
	printf("re-encrypted %lld upstream key(s) from key %s to key %s", done,
	    old.id, cur.id);
	if (ai)
		printf("; and the stored anthropic tokens");
	if (failed > 0)
		printf("; %lld could not be opened and were left (see the log)",
		    failed);
	printf("\n");
	status = failed > 0 ? 1 : 0;
out:
	crypto_key_wipe(&cur);
	crypto_key_wipe(&old);
	db_free(db);
	config_free(cfg);
	return status;
}
