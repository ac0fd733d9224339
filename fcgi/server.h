/*
 * server.h - the listening socket and the prefork supervisor of berth-fcgi.
 *
 * The parent opens (or inherits) one listening socket, forks N workers that
 * each run the caller's worker function on it, replaces workers that die,
 * and on SIGTERM/SIGINT stops them all (a worker finishes its request in
 * flight; stragglers are killed after a grace period). The parent holds no
 * database connection and never touches a request.
 */
#ifndef BERTH_FCGI_SERVER_H
#define BERTH_FCGI_SERVER_H

#include <sys/types.h>

#include "err.h"

/*
 * Opens the listening socket. listen is "unix:PATH", "HOST:PORT" or NULL/""
 * to inherit one: systemd socket activation (LISTEN_FDS/LISTEN_PID, fd 3)
 * or a socket on fd 0 (spawn-fcgi, mod_fcgid). A unix socket gets mode
 * socket_mode. On OK *fd is the socket (caller owns it). On error a message
 * is logged and ERR_IO/ERR_INVALID returned.
 */
berr server_listen(const char *listen, mode_t socket_mode, int *fd)
    __attribute__((warn_unused_result));

/*
 * Runs the supervisor: forks workers (each calls worker_fn(fd, arg) and
 * exits with its return value), restarts any that die (with a pause when
 * they die at once, so a broken config cannot spin the CPU), and returns
 * the process exit status after SIGTERM/SIGINT has stopped them all.
 * worker_fn is entered with default signal dispositions; it must install
 * its own handling via server_worker_signals().
 */
int server_run(
    int fd, int workers, int (*worker_fn)(int fd, void *arg), void *arg);

/*
 * In a worker: SIGTERM while idle in accept ends the process at once; while
 * busy it sets a flag so the worker exits after the request in flight.
 * server_worker_busy() marks the two states; server_worker_stopping() says
 * whether to leave the accept loop.
 */
void server_worker_signals(void);
void server_worker_busy(int busy);
int server_worker_stopping(void);

/*
 * Streaming slots, counted across all workers of one supervisor in a
 * MAP_SHARED page made before the first fork: server_stream_acquire(max)
 * takes a slot when fewer than max are taken and returns true, else
 * false; server_stream_release() gives this worker's slot back. A worker
 * holds at most one. The supervisor frees the slot of a worker that dies
 * holding it, so a crash cannot leak the cap away. Outside server_run()
 * (no shared page) the count is per process.
 */
int server_stream_acquire(int max);
void server_stream_release(void);

#endif
