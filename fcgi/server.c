/*
 * server.c - see server.h.
 */
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "limit.h"
#include "log.h"
#include "parse.h"

#define LISTEN_BACKLOG     512
#define STOP_GRACE_SECONDS 10

/*
 * The streaming slots (server.h): one page shared by the supervisor and
 * its workers. active counts the slots taken; holding[i] says whether
 * worker i holds one, so the supervisor can give back the slot of a worker
 * that died. Only this worker writes its own holding[] entry while it
 * lives; the supervisor only after it is gone.
 */
struct server_shared {
	int active;
	unsigned char holding[LIMIT_WORKERS];
};

static struct server_shared *server_shm;
static struct server_shared server_local; /* when there is no shared page */
static int server_index = -1; /* this worker's index; -1 outside one */

static volatile sig_atomic_t server_stop;
static volatile sig_atomic_t worker_stop;
static volatile sig_atomic_t worker_busy;

/* True when fd is a listening stream socket. */
static int
server_is_listening_socket(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) != 0)
		return 0;
	return val != 0;
}

berr
server_listen(const char *listen, mode_t socket_mode, int *fd)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	long pid;
	int s, nfds;

	if (listen == NULL || *listen == '\0') {
		/* sd_listen_fds(3): both whole numbers, LISTEN_PID ours, at
		 * least one fd; anything else is not for us. */
		if (parse_long(pid_s, 1, LONG_MAX, &pid) == OK &&
		    pid == (long)getpid() &&
		    parse_int(fds_s, 1, INT_MAX, &nfds) == OK) {
			if (!server_is_listening_socket(3)) {
				log_error("LISTEN_FDS given but fd 3 is not a "
				          "listening socket");
				return ERR_INVALID;
			}
			unsetenv("LISTEN_PID");
			unsetenv("LISTEN_FDS");
			unsetenv("LISTEN_FDNAMES");
			log_info("using the socket passed by systemd (fd 3)");
			*fd = 3;
			return OK;
		}
		if (server_is_listening_socket(0)) {
			log_info("using the inherited socket on fd 0");
			*fd = 0;
			return OK;
		}
		log_error("no socket to serve: give --listen unix:PATH or "
		          "HOST:PORT, or start under spawn-fcgi or systemd");
		return ERR_INVALID;
	}
	if (strncmp(listen, "unix:", 5) == 0) {
		const char *path = listen + 5;

		if (*path != '/' || strlen(path) > 100) {
			log_error(
			    "--listen %s: need an absolute socket path of "
			    "at most 100 bytes",
			    listen);
			return ERR_INVALID;
		}
		/* A stale socket from a crash would make bind() fail. */
		(void)unlink(path);
		if ((s = FCGX_OpenSocket(path, LISTEN_BACKLOG)) < 0) {
			log_error(
			    "cannot listen on %s: %s", listen, strerror(errno));
			return ERR_IO;
		}
		if (chmod(path, socket_mode) != 0) {
			log_error("chmod %s: %s", path, strerror(errno));
			close(s);
			return ERR_IO;
		}
	} else {
		if (strchr(listen, ':') == NULL) {
			log_error(
			    "--listen %s: expected unix:PATH or HOST:PORT",
			    listen);
			return ERR_INVALID;
		}
		if ((s = FCGX_OpenSocket(listen, LISTEN_BACKLOG)) < 0) {
			log_error(
			    "cannot listen on %s: %s", listen, strerror(errno));
			return ERR_IO;
		}
	}
	log_info("listening on %s", listen);
	*fd = s;
	return OK;
}

static void
server_on_stop(int sig)
{
	(void)sig;
	server_stop = 1;
}

static void
server_worker_on_term(int sig)
{
	(void)sig;
	if (!worker_busy)
		_exit(0);
	worker_stop = 1;
}

void
server_worker_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_worker_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void
server_worker_busy(int busy)
{
	worker_busy = busy;
}

int
server_worker_stopping(void)
{
	return worker_stop;
}

static struct server_shared *
server_slots(void)
{
	return server_shm != NULL ? server_shm : &server_local;
}

int
server_stream_acquire(int max)
{
	struct server_shared *sh = server_slots();
	int i = server_index >= 0 ? server_index : 0;

	if (sh->holding[i])
		return 0; /* one per worker: a bug if it happens */
	if (__atomic_add_fetch(&sh->active, 1, __ATOMIC_SEQ_CST) > max) {
		__atomic_sub_fetch(&sh->active, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	sh->holding[i] = 1;
	return 1;
}

void
server_stream_release(void)
{
	struct server_shared *sh = server_slots();
	int i = server_index >= 0 ? server_index : 0;

	if (!sh->holding[i])
		return;
	sh->holding[i] = 0;
	__atomic_sub_fetch(&sh->active, 1, __ATOMIC_SEQ_CST);
}

/* In the supervisor: worker i is gone; give back its slot if it held one. */
static void
server_slot_reap(int i)
{
	if (server_shm != NULL && server_shm->holding[i]) {
		server_shm->holding[i] = 0;
		__atomic_sub_fetch(&server_shm->active, 1, __ATOMIC_SEQ_CST);
	}
}

/* Forks worker i; returns its pid or -1. */
static pid_t
server_spawn(int i, int fd, int (*worker_fn)(int, void *), void *arg)
{
	sigset_t none;
	pid_t pid;

	server_slot_reap(i);
	if ((pid = fork()) != 0)
		return pid;
	server_index = i;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	server_worker_signals();
	_exit(worker_fn(fd, arg));
}

static int
server_find(const pid_t *pids, int n, pid_t pid)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

int
server_run(int fd, int workers, int (*worker_fn)(int fd, void *arg), void *arg)
{
	pid_t pids[LIMIT_WORKERS];
	time_t started[LIMIT_WORKERS];
	struct sigaction sa;
	sigset_t block, old;
	int i, status, alive, quick_deaths = 0;
	time_t deadline;
	pid_t pid;

	if (workers < 1 || workers > LIMIT_WORKERS) {
		log_error("workers must be 1..%d", LIMIT_WORKERS);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* Block the stop signals except while waiting, so none is lost
	 * between the check of server_stop and the wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);

	server_shm = mmap(NULL, sizeof(*server_shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (server_shm == MAP_FAILED) {
		/* Each worker then counts only its own stream: the cap is
		 * per worker, which still bounds every stream by one. */
		log_warn("mmap of the shared page failed (%s): the streaming "
		         "cap is counted per worker",
		    strerror(errno));
		server_shm = NULL;
	}
	for (i = 0; i < workers; i++) {
		pids[i] = server_spawn(i, fd, worker_fn, arg);
		started[i] = time(NULL);
		if (pids[i] < 0)
			log_error("fork: %s", strerror(errno));
	}
	log_info("started %d workers", workers);

	while (!server_stop) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		pid = waitpid(-1, &status, 0);
		sigprocmask(SIG_BLOCK, &block, NULL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD) {
				/* Every fork failed: try again shortly. */
				sleep(1);
				for (i = 0; i < workers; i++)
					if (pids[i] <= 0)
						pids[i] = server_spawn(
						    i, fd, worker_fn, arg);
				continue;
			}
			log_error("waitpid: %s", strerror(errno));
			break;
		}
		if ((i = server_find(pids, workers, pid)) < 0)
			continue;
		if (WIFSIGNALED(status))
			log_error("worker %d killed by signal %d; replacing it",
			    (int)pid, WTERMSIG(status));
		else
			log_warn(
			    "worker %d exited with status %d; replacing it",
			    (int)pid, WEXITSTATUS(status));
		if (time(NULL) - started[i] < 1) {
			/* Dying at once (bad config, database refusing us):
			 * back off rather than spin. */
			if (++quick_deaths > 3) {
				sigprocmask(SIG_SETMASK, &old, NULL);
				sleep(1);
				sigprocmask(SIG_BLOCK, &block, NULL);
			}
		} else {
			quick_deaths = 0;
		}
		if (server_stop)
			break;
		pids[i] = server_spawn(i, fd, worker_fn, arg);
		started[i] = time(NULL);
	}

	log_info("stopping %d workers", workers);
	for (i = 0; i < workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	deadline = time(NULL) + STOP_GRACE_SECONDS;
	for (;;) {
		alive = 0;
		for (i = 0; i < workers; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i] ||
			    (kill(pids[i], 0) != 0 && errno == ESRCH))
				pids[i] = 0;
			else
				alive++;
		}
		if (alive == 0)
			break;
		if (time(NULL) >= deadline) {
			log_warn(
			    "%d workers still busy after %d s; killing them",
			    alive, STOP_GRACE_SECONDS);
			for (i = 0; i < workers; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			while (waitpid(-1, NULL, 0) > 0)
				;
			break;
		}
		usleep(50 * 1000);
	}
	log_info("stopped");
	return 0;
}
