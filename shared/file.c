/*
 * file.c - the capped whole-file read: fstat gives the first guess of the
 * size (regular files), the buffer doubles from there (or from 4 KiB)
 * until EOF or one byte past the cap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

berr
file_read(const char *path, unsigned flags, size_t cap, char **out, size_t *len,
    int *err)
{
	struct stat st;
	char *buf = NULL, *grown;
	size_t have = 0, room;
	ssize_t r;
	int fd, oflags = O_RDONLY | O_CLOEXEC, dummy;
	berr rc = OK;

	*out = NULL;
	*len = 0;
	if (err == NULL)
		err = &dummy;
	*err = 0;
	if (flags & FILE_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	if (flags & FILE_NONBLOCK)
		oflags |= O_NONBLOCK;
	if ((fd = open(path, oflags)) < 0) {
		*err = errno;
		return ERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		*err = errno;
		rc = ERR_IO;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		*err = EISDIR;
		rc = ERR_IO;
		goto out;
	}
	if ((flags & FILE_REGULAR) && !S_ISREG(st.st_mode)) {
		rc = ERR_INVALID;
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size > cap) {
		rc = ERR_TOO_BIG;
		goto out;
	}
	/* One byte past the cap tells "too big" when the size lied. */
	room = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1
	                                             : 4096;
	if (room > cap + 1)
		room = cap + 1;
	if ((buf = malloc(room + 1)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (;;) {
		if (have == room) {
			if (room > cap) {
				rc = ERR_TOO_BIG;
				goto out;
			}
			room = room > (cap + 1) / 2 ? cap + 1 : room * 2;
			if ((grown = realloc(buf, room + 1)) == NULL) {
				rc = ERR_NOMEM;
				goto out;
			}
			buf = grown;
		}
		r = read(fd, buf + have, room - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break; /* a FIFO opened without a writer: nothing */
		if (r < 0) {
			*err = errno;
			rc = ERR_IO;
			goto out;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	if (have > cap) {
		rc = ERR_TOO_BIG;
		goto out;
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}
