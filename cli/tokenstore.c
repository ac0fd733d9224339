/*
 * tokenstore.c - session tokens on the client. See tokenstore.h.
 */
#include "tokenstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "autoconf.h"

#ifdef HAVE_LIBSECRET
#include <libsecret/secret.h>

static const SecretSchema tokenstore_schema = {
	.name = "org.berth.Session",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
	    { "service", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "account", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { NULL, 0 },
	},
};

/* True when the keychain is to be tried. */
static bool
tokenstore_use_keychain(void)
{
	const char *bus = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *no = getenv("BERTH_NO_KEYCHAIN");

	return bus != NULL && *bus != '\0' && !(no != NULL && *no == '1');
}
#endif

/* Largest sessions file read. */
#define TOKENSTORE_MAX_FILE (1024 * 1024)

/* The folder of the sessions file into buf. */
static const char *
tokenstore_dir(char *buf, size_t size)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (x != NULL && x[0] == '/')
		snprintf(buf, size, "%s/berth", x);
	else
		snprintf(buf, size, "%s/.config/berth", home ? home : ".");
	return buf;
}

const char *
tokenstore_path(char *buf, size_t size)
{
	char dir[4096];

	snprintf(
	    buf, size, "%s/sessions.json", tokenstore_dir(dir, sizeof(dir)));
	return buf;
}

/* The sessions file as a JSON object ({} when absent). NULL on error. */
static struct json_object *
tokenstore_read(void)
{
	char path[4200], *text = NULL;
	struct json_object *o = NULL;
	struct stat st;
	ssize_t n;
	int fd;

	tokenstore_path(path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return json_object_new_object();
		fprintf(stderr, "berth: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > TOKENSTORE_MAX_FILE ||
	    (text = calloc(1, (size_t)st.st_size + 1)) == NULL) {
		fprintf(
		    stderr, "berth: %s: not a readable sessions file\n", path);
		goto out;
	}
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		fprintf(stderr, "berth: %s: short read\n", path);
		goto out;
	}
	o = n == 0 ? json_object_new_object() : json_tokener_parse(text);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		fprintf(stderr, "berth: %s: not a JSON object\n", path);
		json_object_put(o);
		o = NULL;
	}
out:
	if (text != NULL) {
		OPENSSL_cleanse(text, (size_t)st.st_size);
		free(text);
	}
	close(fd);
	return o;
}

/* Replaces the sessions file with o: 0600 in a 0700 folder. */
static berr
tokenstore_write(struct json_object *o)
{
	char dir[4096], path[4200], tmp[4300];
	const char *text;
	size_t len;
	int fd;

	tokenstore_dir(dir, sizeof(dir));
	tokenstore_path(path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	/* The parent (~/.config) may be missing too. */
	{
		char parent[4096], *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			(void)mkdir(parent, 0700);
		}
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "berth: %s: %s\n", dir, strerror(errno));
		return ERR_IO;
	}
	(void)chmod(dir, 0700);
	if ((text = json_object_to_json_string_ext(o,
	         JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) ==
	    NULL)
		return ERR_NOMEM;
	len = strlen(text);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		fprintf(stderr, "berth: %s: %s\n", tmp, strerror(errno));
		return ERR_IO;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "berth: %s: %s\n", path, strerror(errno));
		(void)unlink(tmp);
		return ERR_IO;
	}
	return OK;
}

#ifdef HAVE_LIBSECRET
/* "session:<server>" into buf. */
static const char *
tokenstore_account(const char *server, char *buf, size_t size)
{
	snprintf(buf, size, "session:%s", server);
	return buf;
}
#endif

berr
tokenstore_save(const char *server, const char *token, const char *username,
    const char *expires_at, const char **where)
{
	struct json_object *all = NULL, *e = NULL;
	bool keychain = false; /* set only with libsecret */
	berr rc = ERR_NOMEM;

	*where = "file";
#ifdef HAVE_LIBSECRET
	if (tokenstore_use_keychain()) {
		char account[1100], label[1200];
		GError *gerr = NULL;

		tokenstore_account(server, account, sizeof(account));
		snprintf(label, sizeof(label), "Berth session for %s", server);
		if (secret_password_store_sync(&tokenstore_schema,
		        SECRET_COLLECTION_DEFAULT, label, token, NULL, &gerr,
		        "service", "berth", "account", account, NULL)) {
			keychain = true;
			*where = "keychain";
		} else {
			fprintf(stderr,
			    "berth: the keychain refused the token (%s); "
			    "keeping it in the 0600 file\n",
			    gerr ? gerr->message : "unknown error");
		}
		if (gerr != NULL)
			g_error_free(gerr);
	}
#endif
	if ((all = tokenstore_read()) == NULL) {
		rc = ERR_IO;
		goto out;
	}
	if ((e = json_object_new_object()) == NULL)
		goto out;
	json_object_object_add(
	    e, "username", json_object_new_string(username ? username : ""));
	json_object_object_add(e, "expires_at",
	    json_object_new_string(expires_at ? expires_at : ""));
	json_object_object_add(e, "store", json_object_new_string(*where));
	if (!keychain)
		json_object_object_add(
		    e, "token", json_object_new_string(token));
	json_object_object_add(all, server, e);
	rc = tokenstore_write(all);
out:
	json_object_put(all);
	return rc;
}

berr
tokenstore_load(const char *server, char **token)
{
	struct json_object *all, *e, *t;
	berr rc = ERR_NOT_FOUND;

	*token = NULL;
#ifdef HAVE_LIBSECRET
	if (tokenstore_use_keychain()) {
		char account[1100];
		GError *gerr = NULL;
		gchar *pw = secret_password_lookup_sync(&tokenstore_schema,
		    NULL, &gerr, "service", "berth", "account",
		    tokenstore_account(server, account, sizeof(account)), NULL);

		if (gerr != NULL)
			g_error_free(gerr);
		if (pw != NULL) {
			*token = strdup(pw);
			secret_password_free(pw);
			return *token != NULL ? OK : ERR_NOMEM;
		}
	}
#endif
	if ((all = tokenstore_read()) == NULL)
		return ERR_IO;
	if (json_object_object_get_ex(all, server, &e) &&
	    json_object_object_get_ex(e, "token", &t) &&
	    json_object_is_type(t, json_type_string)) {
		*token = strdup(json_object_get_string(t));
		rc = *token != NULL ? OK : ERR_NOMEM;
	}
	json_object_put(all);
	return rc;
}

berr
tokenstore_remove(const char *server)
{
	struct json_object *all;
	berr rc = OK;

#ifdef HAVE_LIBSECRET
	if (tokenstore_use_keychain()) {
		char account[1100];
		GError *gerr = NULL;

		(void)secret_password_clear_sync(&tokenstore_schema, NULL,
		    &gerr, "service", "berth", "account",
		    tokenstore_account(server, account, sizeof(account)), NULL);
		if (gerr != NULL)
			g_error_free(gerr);
	}
#endif
	if ((all = tokenstore_read()) == NULL)
		return ERR_IO;
	if (json_object_object_get_ex(all, server, NULL)) {
		json_object_object_del(all, server);
		rc = tokenstore_write(all);
	}
	json_object_put(all);
	return rc;
}

/* The string at key of o, or "". */
static const char *
tokenstore_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

berr
tokenstore_list(struct tokenstore_entry **out, size_t *n)
{
	struct json_object *all;
	struct tokenstore_entry *v;
	size_t i = 0, count;

	*out = NULL;
	*n = 0;
	if ((all = tokenstore_read()) == NULL)
		return ERR_IO;
	count = (size_t)json_object_object_length(all);
	if ((v = calloc(count + 1, sizeof(*v))) == NULL) {
		json_object_put(all);
		return ERR_NOMEM;
	}
	json_object_object_foreach(all, server, e)
	{
		if (i >= count || !json_object_is_type(e, json_type_object))
			continue;
		snprintf(v[i].server, sizeof(v[i].server), "%s", server);
		snprintf(v[i].username, sizeof(v[i].username), "%s",
		    tokenstore_str(e, "username"));
		snprintf(v[i].expires_at, sizeof(v[i].expires_at), "%s",
		    tokenstore_str(e, "expires_at"));
		snprintf(v[i].store, sizeof(v[i].store), "%s",
		    tokenstore_str(e, "store"));
		i++;
	}
	json_object_put(all);
	*out = v;
	*n = i;
	return OK;
}
