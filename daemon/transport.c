/*
 * transport.c - ManagementChannel and Heartbeat over gRPC C core.
 *
 * gRPC core runs batches of operations on a call and reports each batch on
 * the completion queue with the tag given when it started. Every batch
 * started here has one of the tags in t->tags; a call is unref'ed only when
 * every batch started on it has come back (stream_pending, hb_pending), which
 * is what gRPC requires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <openssl/x509.h>

#include "autoconf.h"
#include "limit.h"
#include "log.h"
#include "transport.h"

#define PATH_CHANNEL   "/lighthouse.v1.LighthouseService/ManagementChannel"
#define PATH_HEARTBEAT "/lighthouse.v1.LighthouseService/Heartbeat"

enum tag_id {
	TAG_START = 0, /* stream: send initial metadata */
	TAG_UP,        /* stream: receive initial metadata */
	TAG_RECV,      /* stream: receive one message */
	TAG_SEND,      /* stream: send one message */
	TAG_CLOSE,     /* stream: half-close */
	TAG_STATUS,    /* stream: final status */
	TAG_HB,        /* heartbeat: the whole unary call */
	TAG_N
};

struct sendq_item {
	struct sendq_item *next;
	grpc_byte_buffer *bb;
};

struct transport {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	char tags[TAG_N];

	grpc_call *stream;
	int stream_pending; /* batches started and not yet back */
	bool stream_done;   /* final status received */
	bool send_busy;
	bool close_queued, close_sent;
	grpc_metadata_array st_md_init, st_md_trail;
	grpc_status_code st_status;
	grpc_slice st_details;
	grpc_byte_buffer *st_recv, *st_send;
	struct sendq_item *qhead, *qtail;
	size_t qlen;

	grpc_call *hb;
	int hb_pending;
	grpc_metadata_array hb_md_init, hb_md_trail;
	grpc_status_code hb_status;
	grpc_slice hb_details;
	grpc_byte_buffer *hb_send, *hb_recv;
};

void
transport_global_init(void)
{
	grpc_init();
}

void
transport_global_shutdown(void)
{
	grpc_shutdown();
}

const char *
transport_version(void)
{
	return grpc_version_string();
}

static gpr_timespec
transport_deadline(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/*
 * The system CA store as PEM ($SSL_CERT_FILE, else OpenSSL's default file,
 * /usr/lib/ssl/cert.pem on Debian), malloc'ed; NULL when unreadable.
 */
static char *
transport_read_roots(void)
{
	const char *path = getenv(X509_get_default_cert_file_env());
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if (path == NULL || *path == '\0')
		path = X509_get_default_cert_file();
	if ((f = fopen(path, "re")) == NULL) {
		log_error(
		    "cannot read the CA store %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nb;
			if (cap > 16 * 1024 * 1024)
				break;
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap + 1)) == NULL)
				break;
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	if (buf == NULL || len == 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static grpc_channel_credentials *
transport_creds(const struct transport_opts *opts)
{
	grpc_channel_credentials *creds;
	char *roots;

	if (!opts->use_tls)
		return grpc_insecure_credentials_create();
	if (opts->skip_verify) {
		/*
		 * gRPC core 1.51 can skip verification only through its
		 * experimental TLS credentials: no server certificate check,
		 * no host name check. Local development only (SECURITY.md).
		 */
		grpc_tls_credentials_options *o =
		    grpc_tls_credentials_options_create();
		grpc_tls_certificate_verifier *v =
		    grpc_tls_certificate_verifier_no_op_create();
		grpc_tls_credentials_options_set_verify_server_cert(o, 0);
		grpc_tls_credentials_options_set_check_call_host(o, 0);
		grpc_tls_credentials_options_set_certificate_verifier(o, v);
		grpc_tls_certificate_verifier_release(v);
		return grpc_tls_credentials_create(o);
	}
	if ((roots = transport_read_roots()) == NULL)
		return NULL;
	creds = grpc_ssl_credentials_create(roots, NULL, NULL, NULL);
	free(roots);
	return creds;
}

static grpc_arg
transport_int_arg(const char *key, int v)
{
	grpc_arg a;

	memset(&a, 0, sizeof(a));
	a.type = GRPC_ARG_INTEGER;
	a.key = (char *)key;
	a.value.integer = v;
	return a;
}

static grpc_arg
transport_str_arg(const char *key, const char *v)
{
	grpc_arg a;

	memset(&a, 0, sizeof(a));
	a.type = GRPC_ARG_STRING;
	a.key = (char *)key;
	a.value.string = (char *)v;
	return a;
}

berr
transport_open(const struct transport_opts *opts, struct transport **out)
{
	grpc_arg args[7];
	grpc_channel_args cargs = { .num_args = 7, .args = args };
	grpc_channel_credentials *creds;
	struct transport *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ERR_NOMEM;
	args[0] = transport_int_arg(
	    GRPC_ARG_KEEPALIVE_TIME_MS, LIMIT_LH_KEEPALIVE_MS);
	args[1] = transport_int_arg(
	    GRPC_ARG_KEEPALIVE_TIMEOUT_MS, LIMIT_LH_KEEPALIVE_TIMEOUT_MS);
	args[2] = transport_int_arg(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
	/* Default 2: pings would stop on a quiet channel. */
	args[3] = transport_int_arg(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
	args[4] = transport_int_arg(
	    GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, LIMIT_LH_MSG_BYTES);
	args[5] = transport_int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
	args[6] = transport_str_arg(
	    GRPC_ARG_PRIMARY_USER_AGENT_STRING, "berthd/" PACKAGE_VERSION);
	if ((creds = transport_creds(opts)) == NULL) {
		free(t);
		return ERR_IO;
	}
	t->ch = grpc_channel_create(opts->target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	t->cq = grpc_completion_queue_create_for_next(NULL);
	if (t->ch == NULL || t->cq == NULL) {
		transport_close(t);
		return ERR_INTERNAL;
	}
	grpc_metadata_array_init(&t->st_md_init);
	grpc_metadata_array_init(&t->st_md_trail);
	grpc_metadata_array_init(&t->hb_md_init);
	grpc_metadata_array_init(&t->hb_md_trail);
	t->st_details = grpc_empty_slice();
	t->hb_details = grpc_empty_slice();
	*out = t;
	return OK;
}

static void
transport_sendq_clear(struct transport *t)
{
	struct sendq_item *it;

	while ((it = t->qhead) != NULL) {
		t->qhead = it->next;
		grpc_byte_buffer_destroy(it->bb);
		free(it);
	}
	t->qtail = NULL;
	t->qlen = 0;
}

/* Releases the stream call once every batch on it is back. */
static void
transport_stream_release(struct transport *t)
{
	if (t->stream == NULL || t->stream_pending > 0 || !t->stream_done)
		return;
	grpc_call_unref(t->stream);
	t->stream = NULL;
	transport_sendq_clear(t);
	grpc_metadata_array_destroy(&t->st_md_init);
	grpc_metadata_array_destroy(&t->st_md_trail);
	grpc_metadata_array_init(&t->st_md_init);
	grpc_metadata_array_init(&t->st_md_trail);
	grpc_slice_unref(t->st_details);
	t->st_details = grpc_empty_slice();
}

static void
transport_hb_release(struct transport *t)
{
	if (t->hb == NULL || t->hb_pending > 0)
		return;
	grpc_call_unref(t->hb);
	t->hb = NULL;
	if (t->hb_send != NULL)
		grpc_byte_buffer_destroy(t->hb_send);
	if (t->hb_recv != NULL)
		grpc_byte_buffer_destroy(t->hb_recv);
	t->hb_send = t->hb_recv = NULL;
	grpc_metadata_array_destroy(&t->hb_md_init);
	grpc_metadata_array_destroy(&t->hb_md_trail);
	grpc_metadata_array_init(&t->hb_md_init);
	grpc_metadata_array_init(&t->hb_md_trail);
	grpc_slice_unref(t->hb_details);
	t->hb_details = grpc_empty_slice();
}

/* Starts one batch on the stream; on refusal cancels the stream. */
static bool
transport_stream_batch(
    struct transport *t, grpc_op *ops, size_t n, enum tag_id tag)
{
	grpc_call_error e;

	e = grpc_call_start_batch(t->stream, ops, n, &t->tags[tag], NULL);
	if (e != GRPC_CALL_OK) {
		log_error("gRPC refused a batch on the stream (%d)", (int)e);
		grpc_call_cancel(t->stream, NULL);
		return false;
	}
	t->stream_pending++;
	return true;
}

static void
transport_recv_next(struct transport *t)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &t->st_recv;
	(void)transport_stream_batch(t, &op, 1, TAG_RECV);
}

/* Sends the next queued message, or the half-close once all are out. */
static void
transport_pump(struct transport *t)
{
	struct sendq_item *it;
	grpc_op op;

	if (t->stream == NULL || t->stream_done || t->send_busy)
		return;
	memset(&op, 0, sizeof(op));
	if ((it = t->qhead) != NULL) {
		t->qhead = it->next;
		if (t->qhead == NULL)
			t->qtail = NULL;
		t->qlen--;
		t->st_send = it->bb;
		free(it);
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = t->st_send;
		t->send_busy = true;
		if (!transport_stream_batch(t, &op, 1, TAG_SEND)) {
			t->send_busy = false;
			grpc_byte_buffer_destroy(t->st_send);
			t->st_send = NULL;
		}
		return;
	}
	if (t->close_queued && !t->close_sent) {
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		t->close_sent = true;
		(void)transport_stream_batch(t, &op, 1, TAG_CLOSE);
	}
}

berr
transport_stream_start(struct transport *t)
{
	grpc_op ops[1];

	if (t->stream != NULL)
		return ERR_CONFLICT;
	t->stream =
	    grpc_channel_create_call(t->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
	        t->cq, grpc_slice_from_static_string(PATH_CHANNEL), NULL,
	        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (t->stream == NULL)
		return ERR_INTERNAL;
	t->stream_done = false;
	t->send_busy = t->close_queued = t->close_sent = false;
	t->st_status = GRPC_STATUS_OK;

	/* The final status first: it tells when the stream is over. */
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &t->st_md_trail;
	ops[0].data.recv_status_on_client.status = &t->st_status;
	ops[0].data.recv_status_on_client.status_details = &t->st_details;
	if (grpc_call_start_batch(t->stream, ops, 1, &t->tags[TAG_STATUS],
	        NULL) != GRPC_CALL_OK) {
		grpc_call_unref(t->stream);
		t->stream = NULL;
		return ERR_INTERNAL;
	}
	t->stream_pending++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (!transport_stream_batch(t, ops, 1, TAG_START))
		return OK; /* cancelled: the status reports it */
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata =
	    &t->st_md_init;
	if (!transport_stream_batch(t, ops, 1, TAG_UP))
		return OK;
	transport_recv_next(t);
	return OK;
}

berr
transport_stream_send(struct transport *t, const uint8_t *buf, size_t len)
{
	struct sendq_item *it;
	grpc_slice s;

	if (t->stream == NULL || t->stream_done || t->close_queued)
		return ERR_CONFLICT;
	if (t->qlen >= LIMIT_LH_SENDQ)
		return ERR_TOO_BIG;
	if ((it = calloc(1, sizeof(*it))) == NULL)
		return ERR_NOMEM;
	s = grpc_slice_from_copied_buffer((const char *)buf, len);
	it->bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	if (t->qtail != NULL)
		t->qtail->next = it;
	else
		t->qhead = it;
	t->qtail = it;
	t->qlen++;
	transport_pump(t);
	return OK;
}

void
transport_stream_close_send(struct transport *t)
{
	if (t->stream == NULL || t->stream_done)
		return;
	t->close_queued = true;
	transport_pump(t);
}

bool
transport_stream_open(const struct transport *t)
{
	return t->stream != NULL && !t->stream_done;
}

bool
transport_heartbeat_busy(const struct transport *t)
{
	return t->hb != NULL;
}

berr
transport_heartbeat(
    struct transport *t, const uint8_t *buf, size_t len, int deadline_ms)
{
	grpc_op ops[6];
	grpc_slice s;

	if (t->hb != NULL)
		return ERR_CONFLICT;
	t->hb = grpc_channel_create_call(t->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
	    t->cq, grpc_slice_from_static_string(PATH_HEARTBEAT), NULL,
	    transport_deadline(deadline_ms), NULL);
	if (t->hb == NULL)
		return ERR_INTERNAL;
	s = grpc_slice_from_copied_buffer((const char *)buf, len);
	t->hb_send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	t->hb_status = GRPC_STATUS_OK;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = t->hb_send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata =
	    &t->hb_md_init;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &t->hb_recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &t->hb_md_trail;
	ops[5].data.recv_status_on_client.status = &t->hb_status;
	ops[5].data.recv_status_on_client.status_details = &t->hb_details;
	if (grpc_call_start_batch(t->hb, ops, 6, &t->tags[TAG_HB], NULL) !=
	    GRPC_CALL_OK) {
		transport_hb_release(t);
		return ERR_INTERNAL;
	}
	t->hb_pending++;
	return OK;
}

/* Copies a byte buffer's bytes into a malloc'ed block. */
static uint8_t *
transport_bb_copy(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	uint8_t *out;

	*len = 0;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	*len = GRPC_SLICE_LENGTH(s);
	if ((out = malloc(*len ? *len : 1)) != NULL)
		memcpy(out, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return out;
}

static char *
transport_slice_str(grpc_slice s)
{
	size_t n = GRPC_SLICE_LENGTH(s);
	char *out;

	if (n == 0)
		return NULL;
	if (n > 512)
		n = 512;
	if ((out = malloc(n + 1)) != NULL) {
		memcpy(out, GRPC_SLICE_START_PTR(s), n);
		out[n] = '\0';
	}
	return out;
}

/* Handles one completion; true when it filled *ev. */
static bool
transport_complete(
    struct transport *t, const grpc_event *ge, struct transport_event *ev)
{
	enum tag_id tag = (enum tag_id)((char *)ge->tag - t->tags);
	bool ok = ge->success != 0;

	switch (tag) {
	case TAG_START:
	case TAG_CLOSE: t->stream_pending--; break;
	case TAG_UP:
		t->stream_pending--;
		if (ok && !t->stream_done) {
			ev->kind = TEV_STREAM_UP;
			transport_stream_release(t);
			return true;
		}
		break;
	case TAG_SEND:
		t->stream_pending--;
		t->send_busy = false;
		if (t->st_send != NULL)
			grpc_byte_buffer_destroy(t->st_send);
		t->st_send = NULL;
		transport_pump(t);
		break;
	case TAG_RECV:
		t->stream_pending--;
		if (ok && t->st_recv != NULL) {
			ev->data = transport_bb_copy(t->st_recv, &ev->len);
			grpc_byte_buffer_destroy(t->st_recv);
			t->st_recv = NULL;
			ev->kind = TEV_STREAM_MSG;
			if (!t->stream_done)
				transport_recv_next(t);
			transport_stream_release(t);
			return ev->data != NULL;
		}
		break;
	case TAG_STATUS:
		t->stream_pending--;
		t->stream_done = true;
		ev->kind = TEV_STREAM_END;
		ev->status = (int)t->st_status;
		ev->details = transport_slice_str(t->st_details);
		transport_stream_release(t);
		return true;
	case TAG_HB:
		t->hb_pending--;
		ev->kind = TEV_HEARTBEAT_END;
		ev->status = ok ? (int)t->hb_status : (int)GRPC_STATUS_UNKNOWN;
		ev->details = transport_slice_str(t->hb_details);
		if (ev->status == GRPC_STATUS_OK && t->hb_recv != NULL)
			ev->data = transport_bb_copy(t->hb_recv, &ev->len);
		transport_hb_release(t);
		return true;
	default: log_error("gRPC returned an unknown tag"); break;
	}
	transport_stream_release(t);
	return false;
}

void
transport_poll(struct transport *t, int timeout_ms, struct transport_event *ev)
{
	gpr_timespec until = transport_deadline(timeout_ms);
	grpc_event ge;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		ge = grpc_completion_queue_next(t->cq, until, NULL);
		if (ge.type != GRPC_OP_COMPLETE)
			return; /* timeout (or shutdown) */
		if (transport_complete(t, &ge, ev))
			return;
		transport_event_clear(ev);
	}
}

void
transport_event_clear(struct transport_event *ev)
{
	free(ev->data);
	free(ev->details);
	memset(ev, 0, sizeof(*ev));
}

void
transport_close(struct transport *t)
{
	struct transport_event ev;
	grpc_event ge;
	int rounds = 0;

	if (t == NULL)
		return;
	if (t->stream != NULL)
		grpc_call_cancel(t->stream, NULL);
	if (t->hb != NULL)
		grpc_call_cancel(t->hb, NULL);
	/* Cancelled batches come back at once; bound the wait anyway. */
	while ((t->stream != NULL || t->hb != NULL) && t->cq != NULL &&
	    rounds++ < 100) {
		ge = grpc_completion_queue_next(
		    t->cq, transport_deadline(100), NULL);
		if (ge.type == GRPC_OP_COMPLETE) {
			memset(&ev, 0, sizeof(ev));
			(void)transport_complete(t, &ge, &ev);
			transport_event_clear(&ev);
		}
	}
	if (t->st_recv != NULL)
		grpc_byte_buffer_destroy(t->st_recv);
	transport_sendq_clear(t);
	if (t->ch != NULL)
		grpc_channel_destroy(t->ch);
	if (t->cq != NULL) {
		grpc_completion_queue_shutdown(t->cq);
		do {
			ge = grpc_completion_queue_next(
			    t->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		} while (ge.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(t->cq);
	}
	grpc_metadata_array_destroy(&t->st_md_init);
	grpc_metadata_array_destroy(&t->st_md_trail);
	grpc_metadata_array_destroy(&t->hb_md_init);
	grpc_metadata_array_destroy(&t->hb_md_trail);
	grpc_slice_unref(t->st_details);
	grpc_slice_unref(t->hb_details);
	free(t);
}
