/*
 * trivial.c - the baseline for bench/: the least a FastCGI responder can do.
 *
 * Prefork workers on one socket, each answering every request with a fixed
 * 200 JSON body, no routing, no database. bench/healthz.sh puts it behind
 * the same nginx, on the same FastCGI port, as berth-fcgi, so the ratio of
 * their throughputs is Berth's own per-request cost.
 *
 * usage: fcgi-trivial --listen HOST:PORT|PATH --workers N [--body-bytes B]
 *
 * --body-bytes pads the body to B bytes (a "pad" string member), so that
 * nginx and the client carry as many bytes as a real answer of that size:
 * bench/mcp.sh uses it to show how much of the gap is the answer's size.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

static int
trivial_worker(int fd, const char *body)
{
	FCGX_Request r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, fd, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_FPrintF(r.out,
		    "Status: 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\n\r\n%s",
		    (int)strlen(body), body);
		FCGX_Finish_r(&r);
	}
	return 0;
}

/* The fixed body, padded to bytes when that is more than its own size;
 * NULL when out of memory. */
static char *
trivial_body(long bytes)
{
	static const char plain[] = "{\"status\":\"ok\"}";
	static const char head[] = "{\"status\":\"ok\",\"pad\":\"";
	size_t n = bytes > 0 ? (size_t)bytes : 0, pad;
	char *b;

	if (n < sizeof(head) - 1 + 2)
		return strdup(plain);
	if ((b = malloc(n + 1)) == NULL)
		return NULL;
	pad = n - (sizeof(head) - 1) - 2;
	memcpy(b, head, sizeof(head) - 1);
	memset(b + sizeof(head) - 1, 'x', pad);
	memcpy(b + sizeof(head) - 1 + pad, "\"}", 3);
	return b;
}

int
main(int argc, char **argv)
{
	const char *listen = NULL;
	int workers = 2, i, fd;
	long n, body_bytes = 0;
	char *end, *body;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0) {
			/* Anything but a whole number in range: usage. */
			errno = 0;
			n = strtol(argv[i + 1], &end, 10);
			workers = errno == 0 && end != argv[i + 1] &&
			        *end == '\0' && n >= 1 && n <= 256
			    ? (int)n
			    : 0;
		} else if (strcmp(argv[i], "--body-bytes") == 0) {
			errno = 0;
			n = strtol(argv[i + 1], &end, 10);
			body_bytes = errno == 0 && end != argv[i + 1] &&
			        *end == '\0' && n >= 0 && n <= 1048576
			    ? n
			    : -1;
		}
	}
	if (listen == NULL || workers < 1 || workers > 256 || body_bytes < 0) {
		fprintf(stderr,
		    "usage: fcgi-trivial --listen ADDR --workers N "
		    "[--body-bytes 0..1048576]\n");
		return 2;
	}
	if ((body = trivial_body(body_bytes)) == NULL) {
		perror("fcgi-trivial");
		return 1;
	}
	if ((fd = FCGX_OpenSocket(listen, 512)) < 0) {
		perror(listen);
		free(body);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < workers; i++)
		if (fork() == 0) {
			/* Workers end with the parent (SIGTERM from the bench). */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			_exit(trivial_worker(fd, body));
		}
	while (wait(NULL) > 0)
		;
	free(body);
	return 0;
}
