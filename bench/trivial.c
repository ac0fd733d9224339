/*
 * trivial.c - the baseline for bench/: the least a FastCGI responder can do.
 *
 * Prefork workers on one socket, each answering every request with a fixed
 * 200 JSON body, no routing, no database. bench/healthz.sh puts it behind
 * the same nginx, on the same FastCGI port, as berth-fcgi, so the ratio of
 * their throughputs is Berth's own per-request cost.
 *
 * usage: fcgi-trivial --listen HOST:PORT|PATH --workers N
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
trivial_worker(int fd)
{
	static const char body[] = "{\"status\":\"ok\"}";
	FCGX_Request r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, fd, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_FPrintF(r.out,
		    "Status: 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\n\r\n%s",
		    (int)sizeof(body) - 1, body);
		FCGX_Finish_r(&r);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *listen = NULL;
	int workers = 2, i, fd;
	char *end;
	long n;

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
		}
	}
	if (listen == NULL || workers < 1 || workers > 256) {
		fprintf(
		    stderr, "usage: fcgi-trivial --listen ADDR --workers N\n");
		return 2;
	}
	if ((fd = FCGX_OpenSocket(listen, 512)) < 0) {
		perror(listen);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < workers; i++)
		if (fork() == 0) {
			/* Workers end with the parent (SIGTERM from the bench). */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			_exit(trivial_worker(fd));
		}
	while (wait(NULL) > 0)
		;
	return 0;
}
