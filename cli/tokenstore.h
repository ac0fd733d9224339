/*
 * tokenstore.h - where `berth login` keeps session tokens on the client.
 *
 * The token goes to the Secret Service (the desktop keychain, through
 * libsecret) when Berth was built with libsecret and a D-Bus session bus
 * is present ($DBUS_SESSION_BUS_ADDRESS), under the attributes
 * service=berth, account=session:<server-url>. Otherwise, or when the
 * keychain refuses, it goes to $XDG_CONFIG_HOME/berth/sessions.json
 * (~/.config/berth/ without XDG_CONFIG_HOME), a file of mode 0600 in a
 * folder of mode 0700, replaced atomically. That file also lists every
 * session's server, user and expiry (never the token when the keychain
 * holds it), so `berth status` can show them. BERTH_NO_KEYCHAIN=1 forces
 * the file.
 */
#ifndef BERTH_CLI_TOKENSTORE_H
#define BERTH_CLI_TOKENSTORE_H

#include <stddef.h>

#include "err.h"

struct tokenstore_entry {
	char server[1024];
	char username[401];
	char expires_at[40];
	char store[16]; /* "keychain" or "file" */
};

/*
 * Stores token for server. *where (static) says "keychain" or "file". OK,
 * ERR_IO (file or folder; errno-based message on stderr), ERR_NOMEM.
 */
berr tokenstore_save(const char *server, const char *token,
    const char *username, const char *expires_at, const char **where)
    __attribute__((warn_unused_result));

/* The token of server, malloc'ed (caller wipes and frees). ERR_NOT_FOUND
 * when none is stored. */
berr tokenstore_load(const char *server, char **token)
    __attribute__((warn_unused_result));

/* Forgets server's token (keychain and file). OK also when there was none. */
berr tokenstore_remove(const char *server) __attribute__((warn_unused_result));

/* Every stored session; *out malloc'ed (caller frees), *n entries. */
berr tokenstore_list(struct tokenstore_entry **out, size_t *n)
    __attribute__((warn_unused_result));

/* The path of the sessions file into buf. */
const char *tokenstore_path(char *buf, size_t size);

#endif
