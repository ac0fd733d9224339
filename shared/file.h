/*
 * file.h - reading a whole file Berth reads itself (config.yaml, agent
 * .prompt files, SQL migrations) into memory, with a cap.
 *
 * The cap holds for anything the path leads to: a file that grows while it
 * is read, a pipe or a FIFO (which have no size) are read to one byte past
 * the cap at most. A directory is refused with EISDIR.
 *
 * Ownership: file_read() hands the caller a malloc'ed buffer (one NUL byte
 * past *len; the text may hold NUL bytes of its own), freed with free().
 * Nothing is kept between calls.
 */
#ifndef BERTH_FILE_H
#define BERTH_FILE_H

#include <stddef.h>

#include "err.h"

enum file_flags {
	FILE_REGULAR = 1 << 0,  /* anything else: ERR_INVALID */
	FILE_NOFOLLOW = 1 << 1, /* a symbolic link: ERR_IO, ELOOP */
	FILE_NONBLOCK = 1 << 2, /* open a FIFO without waiting for a writer */
};

/*
 * Reads path (flags: enum file_flags) into *out, *len. OK; ERR_IO with
 * *err (may be NULL) the errno; ERR_INVALID (FILE_REGULAR and not a regular
 * file); ERR_TOO_BIG (more than cap bytes); ERR_NOMEM. *out is NULL after a
 * failure.
 */
berr file_read(const char *path, unsigned flags, size_t cap, char **out,
    size_t *len, int *err) __attribute__((warn_unused_result));

#endif
