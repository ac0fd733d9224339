/*
 * link.c - the Lighthouse connection: state machine, heartbeats, run
 * reports, station_status. See link.h for the states and timings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "autoconf.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "limit.h"
#include "link.h"
#include "log.h"
#include "mgmt.h"
#include "outbox.h"
#include "pbutil.h"
#include "transport.h"

#define MM(x) LIGHTHOUSE__V1__MANAGEMENT_MESSAGE__MESSAGE_##x
#define DR(x) LIGHTHOUSE__V1__DISCONNECT_REASON__DISCONNECT_REASON_##x

#define BACKOFF_MIN_MS    1000
#define BACKOFF_MAX_MS    30000
#define LIMIT_WAIT_MS     30000  /* LIMIT_REACHED: between tries */
#define AUTH_TIMEOUT_MS   15000  /* StationAuth sent, no AuthResult */
#define HB_DEADLINE_MS    10000  /* one Heartbeat call */
#define WATCHDOG_GRACE_MS 5000   /* on top of interval + HB_DEADLINE_MS */
#define OUTBOX_EVERY_MS   1000   /* how often due reports are looked for */
#define OUTBOX_RETRY_S    60     /* sent, unanswered: due again after */
#define DELAY_MAX_MS      300000 /* cap on a Disconnect's reconnect delay */

enum link_state { LS_WAIT, LS_AUTH, LS_UP, LS_STOPPED };

struct link {
	const struct config *cfg;
	struct db *db;
	struct transport *t;
	enum link_state st;
	char name[201];
	char daemon_id[300];

	long long next_try; /* LS_WAIT: monotonic ms */
	int attempt;        /* backoff exponent */
	long long auth_deadline;
	long long hb_interval, hb_next, last_rx;
	long long outbox_next;
	int inflight;
	long long started;    /* monotonic ms at link_new(): uptime */
	char runs_mark[40];   /* runs updated after this (DB epoch) are news */
	char events_mark[40]; /* so are run events after this one */

	/* station_status */
	char station_id[128], org_id[128];
	char last_error[300];
	bool replaced;
	double connected_at, last_hb; /* epoch seconds, 0 = none */
};

static double
link_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies src into dst (size n) keeping printable ASCII only. */
static void
link_copy_clean(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src && i + 1 < n; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[i] = '\0';
}

/* Go's time.Duration formatting, as Station logs it ("1m0s", "500ms"). */
static void
link_duration(char *buf, size_t n, long long ms)
{
	long long h = ms / 3600000, m = ms / 60000 % 60;
	double s = (double)(ms % 60000) / 1000.0;

	if (ms < 1000)
		snprintf(buf, n, "%lldms", ms);
	else if (h > 0)
		snprintf(buf, n, "%lldh%lldm%gs", h, m, s);
	else if (m > 0)
		snprintf(buf, n, "%lldm%gs", m, s);
	else
		snprintf(buf, n, "%gs", s);
}

static void
link_status_write(struct link *l)
{
	char hb_s[24], conn_at[48], last_hb[48];
	const char *v[11];

	snprintf(hb_s, sizeof(hb_s), "%lld",
	    l->hb_interval > 0 ? (l->hb_interval + 999) / 1000 : 0);
	snprintf(conn_at, sizeof(conn_at), "%.6f", l->connected_at);
	snprintf(last_hb, sizeof(last_hb), "%.6f", l->last_hb);
	v[0] = l->name;
	v[1] = l->st == LS_UP ? "true" : "false";
	v[2] = l->station_id;
	v[3] = l->org_id;
	v[4] = l->cfg->cloudship.endpoint;
	v[5] = l->daemon_id;
	v[6] = l->hb_interval > 0 ? hb_s : NULL;
	v[7] = l->connected_at > 0 ? conn_at : NULL;
	v[8] = l->last_hb > 0 ? last_hb : NULL;
	v[9] = l->last_error;
	v[10] = l->replaced ? "true" : "false";
	if (db_exec_sql(l->db,
	        "INSERT INTO station_status (name, connected, station_id, "
	        "org_id, endpoint, daemon, heartbeat_interval_s, "
	        "connected_at, last_heartbeat, last_error, replaced) VALUES "
	        "($1, $2::boolean, nullif($3, ''), nullif($4, ''), $5, $6, "
	        "$7::int, to_timestamp($8::double precision), "
	        "to_timestamp($9::double precision), nullif($10, ''), "
	        "$11::boolean) ON CONFLICT (name) DO UPDATE SET "
	        "connected = EXCLUDED.connected, "
	        "station_id = EXCLUDED.station_id, org_id = EXCLUDED.org_id, "
	        "endpoint = EXCLUDED.endpoint, daemon = EXCLUDED.daemon, "
	        "heartbeat_interval_s = EXCLUDED.heartbeat_interval_s, "
	        "connected_at = EXCLUDED.connected_at, "
	        "last_heartbeat = EXCLUDED.last_heartbeat, "
	        "last_error = EXCLUDED.last_error, "
	        "replaced = EXCLUDED.replaced",
	        11, v, NULL) != OK)
		log_warn("station_status not updated (database error)");
}

struct link *
link_new(const struct config *cfg, struct db *db)
{
	struct link *l = calloc(1, sizeof(*l));
	char host[256] = "";

	if (l == NULL)
		return NULL;
	l->cfg = cfg;
	l->db = db;
	l->st = LS_WAIT;
	l->next_try = l->started = clock_ms();
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	link_copy_clean(l->name, sizeof(l->name),
	    *cfg->cloudship.name ? cfg->cloudship.name : host);
	snprintf(l->daemon_id, sizeof(l->daemon_id), "%.200s:%ld", host,
	    (long)getpid());
	return l;
}

const char *
link_name(const struct link *l)
{
	return l->name;
}

bool
link_stopped(const struct link *l)
{
	return l->st == LS_STOPPED;
}

static long long
link_backoff(struct link *l)
{
	long long base = BACKOFF_MIN_MS;
	int i;

	for (i = 0; i < l->attempt && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	l->attempt++;
	/* +-20 % jitter, still never above the cap. */
	base = base * (80 + random() % 41) / 100;
	return base > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base;
}

/*
 * Ends the connection. delay_ms < 0: the backoff decides; stop: give up
 * until reconfigured. why goes to last_error (and the log, by the caller).
 */
static void
link_drop(struct link *l, const char *why, long long delay_ms, bool stop)
{
	transport_close(l->t);
	l->t = NULL;
	l->inflight = 0;
	if (why != NULL)
		link_copy_clean(l->last_error, sizeof(l->last_error), why);
	if (stop) {
		l->st = LS_STOPPED;
	} else {
		if (delay_ms < 0)
			delay_ms = link_backoff(l);
		l->st = LS_WAIT;
		l->next_try = clock_ms() + delay_ms;
		log_info("reconnecting to Lighthouse in %lld ms", delay_ms);
	}
	link_status_write(l);
}

static void
link_send(struct link *l, const Lighthouse__V1__ManagementMessage *m)
{
	size_t len = lighthouse__v1__management_message__get_packed_size(m);
	uint8_t *buf;
	berr rc;

	if (l->t == NULL || (buf = malloc(len ? len : 1)) == NULL)
		return;
	lighthouse__v1__management_message__pack(m, buf);
	if ((rc = transport_stream_send(l->t, buf, len)) != OK)
		log_warn("a message (field %d) not sent: %s",
		    (int)m->message_case, err_str(rc));
	free(buf);
}

static void
link_mgmt_send(void *arg, const Lighthouse__V1__ManagementMessage *m)
{
	link_send(arg, m);
}

static void
link_arch(char *os, size_t osn, char *arch, size_t archn)
{
	struct utsname u;
	size_t i;

	if (uname(&u) != 0) {
		snprintf(os, osn, "linux");
		snprintf(arch, archn, "unknown");
		return;
	}
	snprintf(os, osn, "%.32s", u.sysname);
	for (i = 0; os[i]; i++)
		if (os[i] >= 'A' && os[i] <= 'Z')
			os[i] = (char)(os[i] - 'A' + 'a');
	/* Go's names, as Station reports them. */
	if (strcmp(u.machine, "x86_64") == 0)
		snprintf(arch, archn, "amd64");
	else if (strcmp(u.machine, "aarch64") == 0)
		snprintf(arch, archn, "arm64");
	else
		snprintf(arch, archn, "%.32s", u.machine);
}

static void
link_connect(struct link *l)
{
	const struct config_cloudship *cs = &l->cfg->cloudship;
	struct transport_opts o = { cs->endpoint, cs->use_tls,
		cs->skip_tls_verify };
	struct mgmt_ctx mc = { l->cfg, l->db, link_mgmt_send, l };
	Lighthouse__V1__ManagementMessage m;
	Lighthouse__V1__StationAuth auth;
	struct pbutil_arena a = { 0 };
	char host[256] = "", os[64], arch[64], rid[64];
	berr rc;

	if ((rc = transport_open(&o, &l->t)) != OK) {
		log_error("cannot set up the channel to %s: %s", cs->endpoint,
		    err_str(rc));
		link_drop(l, "channel set-up failed", -1, false);
		return;
	}
	if (transport_stream_start(l->t) != OK) {
		link_drop(l, "stream start failed", -1, false);
		return;
	}
	(void)gethostname(host, sizeof(host) - 1);
	link_arch(os, sizeof(os), arch, sizeof(arch));
	lighthouse__v1__station_auth__init(&auth);
	auth.registration_key = cs->registration_key;
	auth.name = l->name;
	auth.tags = cs->tags.v;
	auth.n_tags = cs->tags.n;
	auth.hostname = host;
	auth.version = (char *)PACKAGE_VERSION;
	auth.os = os;
	auth.arch = arch;
	auth.environment = (char *)mgmt_default_env(l->cfg);
	mgmt_fill_auth(&mc, &a, &auth);
	snprintf(rid, sizeof(rid), "auth_%lld", (long long)time(NULL));
	lighthouse__v1__management_message__init(&m);
	m.request_id = rid;
	m.registration_key = cs->registration_key;
	m.message_case = MM(STATION_AUTH);
	m.station_auth = &auth;
	link_send(l, &m);
	pbutil_arena_free(&a);
	l->st = LS_AUTH;
	l->auth_deadline = clock_ms() + AUTH_TIMEOUT_MS;
	log_debug("ManagementChannel opened to %s, StationAuth sent (%zu "
	          "agents, %zu tools)",
	    cs->endpoint, auth.n_agents, auth.n_tools);
}

/* Starts watching runs from the database's now. */
static void
link_runs_mark_now(struct link *l)
{
	PGresult *res = NULL;

	l->runs_mark[0] = '\0';
	if (db_exec_sql(l->db, "SELECT extract(epoch FROM now())::text", 0,
	        NULL, &res) == OK &&
	    PQntuples(res) == 1)
		snprintf(l->runs_mark, sizeof(l->runs_mark), "%.39s",
		    PQgetvalue(res, 0, 0));
	memcpy(l->events_mark, l->runs_mark, sizeof(l->events_mark));
	PQclear(res);
}

static void
link_auth_result(struct link *l, const Lighthouse__V1__AuthResult *r)
{
	char dur[32], why[300];

	if (l->st != LS_AUTH) {
		log_warn("AuthResult outside authentication ignored");
		return;
	}
	if (!r->success) {
		link_copy_clean(why, sizeof(why), r->error);
		if (strstr(why, "limit") != NULL) {
			log_error("Lighthouse refused the station: %s; trying "
			          "again in 30 s",
			    why);
			link_drop(l, why, LIMIT_WAIT_MS, false);
		} else {
			log_error(
			    "Lighthouse refused the registration key: %s; "
			    "not retrying until the configuration changes",
			    why);
			link_drop(l, why, 0, true);
		}
		return;
	}
	link_copy_clean(l->station_id, sizeof(l->station_id), r->station_id);
	link_copy_clean(l->org_id, sizeof(l->org_id), r->org_id);
	l->hb_interval =
	    r->heartbeat_interval_ms > 0 ? r->heartbeat_interval_ms : 60000;
	if (l->hb_interval < 100)
		l->hb_interval = 100;
	if (l->hb_interval > 3600000)
		l->hb_interval = 3600000;
	l->st = LS_UP;
	l->attempt = 0;
	l->replaced = false;
	l->last_error[0] = '\0';
	l->connected_at = link_epoch();
	l->last_rx = clock_ms();
	l->hb_next = l->last_rx + l->hb_interval;
	l->outbox_next = 0;
	l->inflight = 0;
	link_duration(dur, sizeof(dur), l->hb_interval);
	log_info("Connected to CloudShip Lighthouse at %s (%s)",
	    l->cfg->cloudship.endpoint,
	    l->cfg->cloudship.use_tls ? "TLS" : "plaintext");
	log_info("Successfully registered with CloudShip management channel");
	log_info("V2 auth successful: station_id=%s name=%s "
	         "heartbeat_interval=%s",
	    l->station_id, l->name, dur);
	if (r->org_id != NULL && *r->org_id)
		log_info("org_id=%s", l->org_id);
	if (r->replaced_existing)
		log_info(
		    "this connection replaced an earlier one of station %s",
		    l->name);
	if (outbox_rearm(l->db) != OK)
		log_warn("could not re-arm the run report outbox");
	link_runs_mark_now(l);
	link_status_write(l);
}

static void
link_disconnect(struct link *l, const Lighthouse__V1__Disconnect *d)
{
	char reason[200], why[300];
	long long delay = d->reconnect_delay_ms;

	link_copy_clean(reason, sizeof(reason), d->reason);
	if (delay > DELAY_MAX_MS)
		delay = DELAY_MAX_MS;
	switch (d->code) {
	case DR(REPLACED):
		snprintf(why, sizeof(why),
		    "replaced: another station took the name %.64s (%.180s)",
		    l->name, reason);
		log_error("Lighthouse disconnected us: %s; not reconnecting "
		          "until restarted or the configuration changes",
		    why);
		l->replaced = true;
		link_drop(l, why, 0, true);
		return;
	case DR(AUTH_FAILED):
	case DR(KEY_REVOKED):
		snprintf(why, sizeof(why), "%s: %s",
		    d->code == DR(AUTH_FAILED) ? "authentication failed"
		                               : "registration key revoked",
		    reason);
		log_error("Lighthouse disconnected us: %s; not reconnecting "
		          "until the configuration changes",
		    why);
		link_drop(l, why, 0, true);
		return;
	case DR(LIMIT_REACHED):
		snprintf(why, sizeof(why), "station limit reached: %s", reason);
		log_warn("Lighthouse disconnected us: %s; trying again in 30 s",
		    why);
		link_drop(l, why, LIMIT_WAIT_MS, false);
		return;
	default: /* SHUTDOWN, HEARTBEAT_TIMEOUT, ERROR, unknown */
		snprintf(why, sizeof(why), "disconnected (code %d): %s",
		    (int)d->code, reason);
		log_warn("Lighthouse disconnected us: %s", why);
		link_drop(l, why, delay > 0 ? delay : -1, false);
		return;
	}
}

static void
link_send_run_response(
    struct link *l, const Lighthouse__V1__ManagementMessage *m)
{
	const Lighthouse__V1__SendRunResponse *r = m->send_run_response;
	long long id = 0;
	int attempt = 0;
	char idtxt[24], msg[200], *end = NULL, *end2 = NULL;

	/* "sendrun_<outbox id>_<attempt>", as link_send_run() made it. */
	if (strncmp(m->request_id, "sendrun_", 8) == 0) {
		id = strtoll(m->request_id + 8, &end, 10);
		attempt = *end == '_' ? (int)strtol(end + 1, &end2, 10) : 0;
	}
	if (id <= 0 || attempt <= 0 || attempt > 100000) {
		log_warn("send_run_response for an unknown request");
		return;
	}
	if (l->inflight > 0)
		l->inflight--;
	snprintf(idtxt, sizeof(idtxt), "%lld", id);
	if (r->success) {
		berr rc = outbox_ack(l->db, idtxt);
		if (rc == OK)
			log_debug("run report %s acknowledged", idtxt);
		else if (rc != ERR_NOT_FOUND)
			log_warn("run report %s: acknowledgement not recorded",
			    idtxt);
		return;
	}
	link_copy_clean(msg, sizeof(msg), r->message);
	log_warn("Lighthouse refused run report %s: %s", idtxt, msg);
	if (outbox_refused(l->db, idtxt, msg, OUTBOX_RETRY_S * attempt) != OK)
		log_warn("run report %s: refusal not recorded", idtxt);
}

static void
link_on_message(struct link *l, const uint8_t *data, size_t len)
{
	Lighthouse__V1__ManagementMessage *m;
	struct mgmt_ctx mc = { l->cfg, l->db, link_mgmt_send, l };

	m = lighthouse__v1__management_message__unpack(NULL, len, data);
	if (m == NULL) {
		log_warn("undecodable message from Lighthouse (%zu bytes) "
		         "ignored",
		    len);
		return;
	}
	l->last_rx = clock_ms();
	switch (m->message_case) {
	case MM(AUTH_RESULT): link_auth_result(l, m->auth_result); break;
	case MM(DISCONNECT): link_disconnect(l, m->disconnect); break;
	case MM(SEND_RUN_RESPONSE): link_send_run_response(l, m); break;
	default:
		if (l->st == LS_UP)
			mgmt_handle(&mc, m);
		else
			log_warn("a request before authentication ignored");
		break;
	}
	lighthouse__v1__management_message__free_unpacked(m, NULL);
}

static void
link_heartbeat(struct link *l)
{
	const struct config_cloudship *cs = &l->cfg->cloudship;
	Lighthouse__V1__HeartbeatRequest hb;
	Lighthouse__V1__SystemMetrics met;
	struct pbutil_arena a = { 0 };
	uint8_t *buf;
	size_t len;

	lighthouse__v1__heartbeat_request__init(&hb);
	lighthouse__v1__system_metrics__init(&met);
	met.uptime_seconds = (clock_ms() - l->started) / 1000;
	met.active_runs = 0;
	hb.registration_key = cs->registration_key;
	hb.environment = (char *)mgmt_default_env(l->cfg);
	hb.status = LIGHTHOUSE__V1__SYSTEM_STATUS__SYSTEM_STATUS_HEALTHY;
	hb.metrics = &met;
	hb.timestamp = pbutil_ts_now(&a);
	len = lighthouse__v1__heartbeat_request__get_packed_size(&hb);
	if ((buf = malloc(len ? len : 1)) != NULL) {
		lighthouse__v1__heartbeat_request__pack(&hb, buf);
		if (transport_heartbeat(l->t, buf, len, HB_DEADLINE_MS) != OK)
			log_warn("heartbeat not sent");
		free(buf);
	}
	pbutil_arena_free(&a);
}

static void
link_heartbeat_end(struct link *l, const struct transport_event *ev)
{
	Lighthouse__V1__HeartbeatResponse *r;
	char msg[200];

	if (l->st != LS_UP)
		return;
	if (ev->status != 0) {
		log_warn("heartbeat failed: gRPC status %d (%s)", ev->status,
		    ev->details ? ev->details : "");
		return;
	}
	r = lighthouse__v1__heartbeat_response__unpack(NULL, ev->len, ev->data);
	if (r == NULL) {
		log_warn("undecodable heartbeat response");
		return;
	}
	link_copy_clean(msg, sizeof(msg), r->message);
	l->last_rx = clock_ms();
	if (r->success) {
		log_debug("heartbeat acknowledged");
		l->last_hb = link_epoch();
		link_status_write(l);
	} else if (strstr(msg, "not registered") != NULL) {
		log_warn("Lighthouse says the station is not registered: "
		         "reconnecting");
		lighthouse__v1__heartbeat_response__free_unpacked(r, NULL);
		link_drop(l, "heartbeat: not registered", -1, false);
		return;
	} else {
		log_warn("heartbeat refused: %s", msg);
	}
	lighthouse__v1__heartbeat_response__free_unpacked(r, NULL);
}

static const char *
link_run_status(const char *st, Lighthouse__V1__LighthouseRunStatus *out)
{
	if (strcmp(st, "succeeded") == 0)
		*out =
		    LIGHTHOUSE__V1__LIGHTHOUSE_RUN_STATUS__LIGHTHOUSE_RUN_STATUS_COMPLETED;
	else if (strcmp(st, "failed") == 0)
		*out =
		    LIGHTHOUSE__V1__LIGHTHOUSE_RUN_STATUS__LIGHTHOUSE_RUN_STATUS_FAILED;
	else if (strcmp(st, "cancelled") == 0)
		*out =
		    LIGHTHOUSE__V1__LIGHTHOUSE_RUN_STATUS__LIGHTHOUSE_RUN_STATUS_CANCELLED;
	else
		*out =
		    LIGHTHOUSE__V1__LIGHTHOUSE_RUN_STATUS__LIGHTHOUSE_RUN_STATUS_UNSPECIFIED;
	return st;
}

static const char *
link_col(const PGresult *res, int row, const char *name)
{
	int c = PQfnumber(res, name);

	return c < 0 || PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c);
}

/* Sends one outbox row as send_run_request. */
static void
link_send_run(struct link *l, const PGresult *res, int row)
{
	const struct config_cloudship *cs = &l->cfg->cloudship;
	Lighthouse__V1__ManagementMessage m;
	Lighthouse__V1__SendRunRequest sr;
	Lighthouse__V1__LighthouseAgentRunData rd;
	Lighthouse__V1__LighthouseTokenUsage tu;
	Lighthouse__V1__SendRunRequest__LabelsEntry lab, *labs[1];
	Lighthouse__V1__LighthouseAgentRunData__MetadataEntry md, *mds[1];
	struct pbutil_arena a = { 0 };
	char rid[64];
	const char *err;

	snprintf(rid, sizeof(rid), "sendrun_%s_%s",
	    link_col(res, row, "outbox_id"), link_col(res, row, "attempts"));
	lighthouse__v1__lighthouse_agent_run_data__init(&rd);
	rd.run_id = (char *)link_col(res, row, "report_run_id");
	rd.agent_id = (char *)link_col(res, row, "agent_id");
	rd.agent_name = (char *)link_col(res, row, "agent_name");
	rd.task = (char *)link_col(res, row, "task");
	err = link_col(res, row, "error");
	rd.response =
	    (char *)(*err ? err : link_col(res, row, "final_response"));
	lighthouse__v1__lighthouse_token_usage__init(&tu);
	tu.prompt_tokens = (int)pbutil_ll(link_col(res, row, "input_tokens"));
	tu.completion_tokens =
	    (int)pbutil_ll(link_col(res, row, "output_tokens"));
	tu.total_tokens = (int)pbutil_ll(link_col(res, row, "total_tokens"));
	rd.token_usage = &tu;
	rd.tool_calls = pbutil_tool_calls(
	    &a, link_col(res, row, "tool_calls"), &rd.n_tool_calls);
	rd.execution_steps = pbutil_steps(
	    &a, link_col(res, row, "step_events"), &rd.n_execution_steps);
	rd.duration_ms = pbutil_ll(link_col(res, row, "duration_ms"));
	rd.model_name = (char *)link_col(res, row, "model");
	(void)link_run_status(link_col(res, row, "status"), &rd.status);
	rd.started_at =
	    pbutil_ts_epoch(&a, link_col(res, row, "started_epoch"));
	rd.completed_at =
	    pbutil_ts_epoch(&a, link_col(res, row, "finished_epoch"));
	lighthouse__v1__lighthouse_agent_run_data__metadata_entry__init(&md);
	md.key = (char *)"berth_run_id";
	md.value = (char *)link_col(res, row, "run_id");
	mds[0] = &md;
	rd.metadata = mds;
	rd.n_metadata = 1;
	rd.station_version = (char *)PACKAGE_VERSION;

	lighthouse__v1__send_run_request__init(&sr);
	sr.registration_key = cs->registration_key;
	sr.environment = (char *)link_col(res, row, "environment");
	sr.mode = LIGHTHOUSE__V1__DEPLOYMENT_MODE__DEPLOYMENT_MODE_SERVE;
	sr.source = strcmp(link_col(res, row, "source"), "lighthouse") == 0
	    ? LIGHTHOUSE__V1__RUN_SOURCE__RUN_SOURCE_UI_TRIGGERED
	    : LIGHTHOUSE__V1__RUN_SOURCE__RUN_SOURCE_ANALYTICS;
	sr.run_data = &rd;
	lighthouse__v1__send_run_request__labels_entry__init(&lab);
	lab.key = (char *)"station";
	lab.value = l->name;
	labs[0] = &lab;
	sr.labels = labs;
	sr.n_labels = 1;

	lighthouse__v1__management_message__init(&m);
	m.request_id = rid;
	m.registration_key = cs->registration_key;
	m.message_case = MM(SEND_RUN_REQUEST);
	m.send_run_request = &sr;
	link_send(l, &m);
	l->inflight++;
	log_debug("run report %s sent (run_id %s)", rid, rd.run_id);
	pbutil_arena_free(&a);
}

static void
link_outbox(struct link *l)
{
	PGresult *res = NULL;
	int i, room = LIMIT_LH_OUTBOX_INFLIGHT - l->inflight;

	if (room <= 0)
		return;
	if (outbox_take_due(l->db, room, OUTBOX_RETRY_S, &res) != OK)
		return;
	for (i = 0; i < PQntuples(res); i++)
		link_send_run(l, res, i);
	PQclear(res);
}

/*
 * One RUNNING update per model call and tool call of the runs Lighthouse
 * asked for, recorded since the last look (run_events, found through the
 * runs rows those events touched): a run that finishes between two looks
 * still shows its steps before its final state.
 */
static void
link_run_events(struct link *l, const struct mgmt_ctx *mc)
{
	const char *v[1] = { l->events_mark };
	PGresult *res = NULL;
	char desc[160];
	int i;

	if (l->events_mark[0] == '\0' ||
	    db_exec_sql(l->db,
	        "SELECT e.kind, coalesce(e.payload->>'name', '') AS name, "
	        "coalesce(e.payload->>'step', '0') AS step, "
	        "coalesce(e.payload->>'success', '') AS ok, "
	        "r.lighthouse_request_id AS rid, "
	        "coalesce(r.lighthouse_run_id, r.lighthouse_request_id) AS "
	        "xid, "
	        "extract(epoch FROM e.at)::text AS mark "
	        "FROM runs r JOIN run_events e ON e.run_id = r.id "
	        "WHERE r.source = 'lighthouse' AND r.agent_id IS NOT NULL AND "
	        "r.lighthouse_request_id IS NOT NULL AND "
	        "r.updated_at > to_timestamp($1::double precision) AND "
	        "e.kind IN ('llm_call', 'tool_call') AND "
	        "e.at > to_timestamp($1::double precision) "
	        "ORDER BY e.at, e.run_id, e.seq LIMIT 100",
	        1, v, &res) != OK)
		return;
	for (i = 0; i < PQntuples(res); i++) {
		if (strcmp(link_col(res, i, "kind"), "tool_call") == 0)
			snprintf(desc, sizeof(desc), "tool %.100s (%s)",
			    link_col(res, i, "name"),
			    strcmp(link_col(res, i, "ok"), "true") == 0
			        ? "ok"
			        : "failed");
		else
			snprintf(desc, sizeof(desc), "model call %.20s",
			    link_col(res, i, "step"));
		mgmt_run_update(mc, link_col(res, i, "rid"),
		    link_col(res, i, "xid"),
		    LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_RUNNING,
		    (int)pbutil_ll(link_col(res, i, "step")), desc, "", true);
		snprintf(l->events_mark, sizeof(l->events_mark), "%.39s",
		    link_col(res, i, "mark"));
	}
	PQclear(res);
}

/*
 * Streams the progress of runs Lighthouse asked for: every runs row of a
 * known agent (the unknown-agent failure is answered by mgmt.c at once)
 * with a request id, updated since the last look and past 'queued'.
 */
static void
link_runs(struct link *l)
{
	struct mgmt_ctx mc = { l->cfg, l->db, link_mgmt_send, l };
	const char *v[1] = { l->runs_mark };
	PGresult *res = NULL;
	int i;

	link_run_events(l, &mc);
	if (l->runs_mark[0] == '\0' ||
	    db_exec_sql(l->db,
	        "SELECT status, steps, coalesce(final_response, '') AS fr, "
	        "coalesce(error, '') AS err, lighthouse_request_id AS rid, "
	        "coalesce(lighthouse_run_id, lighthouse_request_id) AS xid, "
	        "extract(epoch FROM updated_at)::text AS mark FROM runs "
	        "WHERE source = 'lighthouse' AND agent_id IS NOT NULL AND "
	        "lighthouse_request_id IS NOT NULL AND status <> 'queued' AND "
	        "updated_at > to_timestamp($1::double precision) "
	        "ORDER BY updated_at LIMIT 100",
	        1, v, &res) != OK)
		return;
	for (i = 0; i < PQntuples(res); i++) {
		const char *st = link_col(res, i, "status");
		Lighthouse__V1__ExecutionStatus es =
		    LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_RUNNING;
		const char *text = "";

		if (strcmp(st, "succeeded") == 0) {
			es =
			    LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_COMPLETED;
			text = link_col(res, i, "fr");
		} else if (strcmp(st, "failed") == 0) {
			es = LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_FAILED;
			text = link_col(res, i, "err");
		} else if (strcmp(st, "cancelled") == 0) {
			es =
			    LIGHTHOUSE__V1__EXECUTION_STATUS__EXECUTION_CANCELLED;
		}
		mgmt_run_update(&mc, link_col(res, i, "rid"),
		    link_col(res, i, "xid"), es,
		    (int)pbutil_ll(link_col(res, i, "steps")), NULL, text,
		    strcmp(st, "failed") != 0);
		snprintf(l->runs_mark, sizeof(l->runs_mark), "%.39s",
		    link_col(res, i, "mark"));
	}
	PQclear(res);
}

/* Timers: connect, auth timeout, heartbeat, watchdog, outbox. */
static void
link_timers(struct link *l)
{
	long long now = clock_ms();
	char why[120];

	switch (l->st) {
	case LS_WAIT:
		if (now >= l->next_try)
			link_connect(l);
		return;
	case LS_AUTH:
		if (now > l->auth_deadline) {
			log_warn("no AuthResult from Lighthouse within %d s",
			    AUTH_TIMEOUT_MS / 1000);
			link_drop(l, "no AuthResult", -1, false);
		}
		return;
	case LS_UP:
		if (now - l->last_rx >
		    l->hb_interval + HB_DEADLINE_MS + WATCHDOG_GRACE_MS) {
			snprintf(why, sizeof(why),
			    "nothing received from Lighthouse for %lld ms",
			    now - l->last_rx);
			log_warn("%s: reconnecting", why);
			link_drop(l, why, -1, false);
			return;
		}
		if (now >= l->hb_next && !transport_heartbeat_busy(l->t)) {
			l->hb_next = now + l->hb_interval;
			link_heartbeat(l);
		}
		if (now >= l->outbox_next) {
			l->outbox_next = now + OUTBOX_EVERY_MS;
			link_runs(l);
			link_outbox(l);
		}
		return;
	case LS_STOPPED: return;
	}
}

static void
link_event(struct link *l, const struct transport_event *ev)
{
	char why[300];

	switch (ev->kind) {
	case TEV_STREAM_MSG: link_on_message(l, ev->data, ev->len); break;
	case TEV_STREAM_END:
		snprintf(why, sizeof(why), "stream ended: gRPC status %d (%s)",
		    ev->status, ev->details ? ev->details : "");
		if (l->st == LS_UP || l->st == LS_AUTH)
			log_warn("Lighthouse %s", why);
		link_drop(l, why, -1, false);
		break;
	case TEV_HEARTBEAT_END: link_heartbeat_end(l, ev); break;
	default: break;
	}
}

void
link_step(struct link *l, int max_wait_ms)
{
	struct transport_event ev;
	int wait = max_wait_ms;

	link_timers(l);
	if (l->t == NULL) {
		struct timespec ts = { wait / 1000,
			(long)(wait % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			break; /* a signal: let the caller look at it */
		return;
	}
	/* Events until the wait is over; then none waiting. */
	while (l->t != NULL) {
		transport_poll(l->t, wait, &ev);
		if (ev.kind == TEV_NONE)
			break;
		link_event(l, &ev);
		transport_event_clear(&ev);
		wait = 0;
		link_timers(l);
	}
}

void
link_reconfigure(struct link *l, const struct config *cfg)
{
	const struct config_cloudship *a = &l->cfg->cloudship,
	                              *b = &cfg->cloudship;
	bool changed = strcmp(a->endpoint, b->endpoint) != 0 ||
	    strcmp(a->registration_key, b->registration_key) != 0 ||
	    strcmp(a->name, b->name) != 0 || a->use_tls != b->use_tls ||
	    a->skip_tls_verify != b->skip_tls_verify || a->tags.n != b->tags.n;
	size_t i;

	for (i = 0; !changed && i < a->tags.n; i++)
		changed = strcmp(a->tags.v[i], b->tags.v[i]) != 0;
	l->cfg = cfg;
	if (!changed)
		return;
	log_info("cloudship configuration changed: reconnecting");
	transport_close(l->t);
	l->t = NULL;
	l->replaced = false;
	l->attempt = 0;
	l->st = LS_WAIT;
	l->next_try = clock_ms();
}

void
link_shutdown(struct link *l, int wait_ms)
{
	struct transport_event ev;
	long long until = clock_ms() + wait_ms;

	if (l->t != NULL && transport_stream_open(l->t)) {
		transport_stream_close_send(l->t);
		while (l->t != NULL && transport_stream_open(l->t) &&
		    clock_ms() < until) {
			transport_poll(l->t, 100, &ev);
			if (ev.kind == TEV_STREAM_MSG)
				link_on_message(l, ev.data, ev.len);
			transport_event_clear(&ev);
		}
	}
	transport_close(l->t);
	l->t = NULL;
	if (l->st != LS_STOPPED)
		l->st = LS_WAIT;
	link_copy_clean(l->last_error, sizeof(l->last_error), "daemon stopped");
	link_status_write(l);
}

void
link_free(struct link *l)
{
	if (l == NULL)
		return;
	transport_close(l->t);
	free(l);
}
