/*
 * conf: loading and validating the libconfig file (vsampd.conf(5)).
 * Keys are declared as data (name, type, bounds, default) in one
 * table in conf.c. Every error names the file, line and key; unknown keys
 * are warnings (so that a newer config still loads).
 */
#ifndef VSAMPD_CONF_H
#define VSAMPD_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "cost.h"

#define CONF_DEFAULT_PATH SYSCONFDIR "/vsampd/vsampd.conf"

/* A librdkafka property passed through (name with '.' restored). */
struct conf_prop {
	char *name;
	char *value;
	/* A value read from a file or the environment: "file" or "env",
	 * and the path or variable as given; NULL for a value in the file. */
	const char *from;
	char *source;
};

/* How a backend's concurrency limit is set within its max_inflight. */
enum conf_concurrency {
	CONF_CONC_AIMD, /* aimd.h */
	CONF_CONC_GRADIENT, /* gradient.h */
	CONF_CONC_FIXED /* always max_inflight */
};

struct conf_backend {
	char *name;
	char *type; /* "openai" */
	char *url; /* base URL, e.g. http://127.0.0.1:8080/v1 */
	char *model;
	char *api_key_env; /* NULL: no Authorization header */
	char *api_key_file; /* NULL: none */
	char *api_key; /* resolved secret, or NULL; never printed */
	char *ca_file; /* NULL: system default */
	int max_inflight; /* default 64 */
	char *concurrency; /* "aimd" (default), "gradient" or "fixed" */
	long timeout_ms; /* default 120000 */
	int max_retries; /* default 3 */
	long max_retry_after_ms; /* default 60000 */
	long max_reply_bytes; /* default 8 MiB */
	int structured_output; /* default 0 */
	int supports_n; /* several choices in one request (n); default 0 */
	int n_chunk; /* the most choices one request asks for; default 16 */
	double temperature; /* NAN: use defaults */
	double top_p; /* NAN: use defaults */
	long max_tokens; /* 0: use defaults */
	int rpm; /* 0: unlimited */
	long tpm; /* 0: unlimited */
	char **fallback; /* backend names */
	size_t nfallback;
	struct price price; /* per million tokens; NAN in both: unpriced */
};

struct conf {
	char *path;

	/* kafka */
	char *brokers;
	char *group_id;
	char *jobs_topic;
	char *results_topic;
	char *dlq_topic; /* NULL: no DLQ */
	char *scope_topic; /* NULL: no changelog of the dedup index */
	struct conf_prop *consumer_props;
	size_t nconsumer_props;
	struct conf_prop *producer_props;
	size_t nproducer_props;
	int exactly_once;
	char *transactional_id;
	long transaction_ms;

	/* backends */
	struct conf_backend *backends;
	size_t nbackends;
	/* embeddings: a profile like a backend; has_embeddings 0 when absent */
	int has_embeddings;
	struct conf_backend embeddings;

	/* defaults */
	char *default_backend;
	int default_method; /* enum method, default vs_standard */
	int default_k; /* default 5 */
	double default_temperature; /* default 0.7 */
	double default_top_p; /* NAN: not sent */
	long default_max_tokens; /* 0: not sent */
	int default_embed; /* -1 (unset): whether embeddings exist */

	/* worker */
	int max_inflight; /* default 256 */
	int resume_inflight; /* default 3/4 of max_inflight */
	long shutdown_timeout_ms; /* default 30000 */
	long max_message_bytes; /* default 1 MiB */
	long max_result_bytes; /* default 4 MiB */
	long job_timeout_ms; /* default 600000 */
	int poison_exits; /* default 3; 0: off */
	char *inflight_file; /* NULL: state_file + ".inflight" */

	/* dedup */
	double near_threshold; /* default 0.8 */
	long scope_capacity; /* default 1000000 */
	char *state_file; /* default /var/lib/vsampd/dedup.state */

	/* metrics */
	char *metrics_listen; /* default 127.0.0.1:9464; NULL or "" = off */
};

/* Which parts must be present: vsampd needs kafka, vsampctl run does not. */
#define CONF_NEED_KAFKA 0x1

/*
 * Load and validate path. Warnings (unknown keys) go to warn(warnarg,msg)
 * when warn is non-NULL. Returns a new conf, or NULL with errstr of the
 * form "FILE:LINE: KEY: problem".
 */
struct conf *conf_load(const char *path, int flags,
    void (*warn)(void *, const char *), void *warnarg, char *errstr,
    size_t errlen);
void conf_free(struct conf *c);

/* The backend profile of that name, or NULL. */
const struct conf_backend *conf_backend_find(
    const struct conf *c, const char *name);

/* Print the effective settings as a libconfig file, secrets and
 * passthrough values whose names contain password/secret/key redacted. */
void conf_print(const struct conf *c, FILE *fp);

/* How a key gets its value when the file does not give it. */
enum conf_keyhow {
	CONF_KEY_DEFAULT, /* a fixed default, in def */
	CONF_KEY_UNSET, /* not set: off, absent, or not sent */
	CONF_KEY_REQUIRED, /* must be given (kafka and brokers: by vsampd) */
	CONF_KEY_DERIVED /* worked out from other keys after loading */
};

/* One key of the file as conf_load() knows it. */
struct conf_keyinfo {
	/* "kafka.group_id"; a backend profile's keys (which embeddings
	 * takes too) as "backends.url" */
	char path[96];
	/* "integer", "number", "boolean", "string", "array" (of strings),
	 * "group" (librdkafka properties), "section", "list" (of backend
	 * profiles), "profile" (embeddings) */
	const char *type;
	enum conf_keyhow how;
	/* CONF_KEY_DEFAULT: as conf_print() writes it ("5", "0.7",
	 * "\"vsampd\"", "false", "[ ]", "{ }"); "" for a section */
	char def[128];
	int bounded; /* numbers: min and max apply */
	double min, max;
	int min_excluded; /* the value must be above min */
};

/* Key i of conf.c's tables, for documentation checks: 0, or -1 past the
 * last key. */
int conf_key_info(size_t i, struct conf_keyinfo *ki);

/* The enum conf_concurrency named s ("aimd", "gradient", "fixed"; NULL:
 * the default, aimd), or
 * -1 for any other string. */
int conf_concurrency(const char *s);

#endif
