/*
 * result: the result of a job (docs/schema.md) and its msgpack
 * encoding. Leaf module: no I/O.
 */
#ifndef VSAMPD_RESULT_H
#define VSAMPD_RESULT_H

#include <stddef.h>
#include <stdint.h>

#define RESULT_SCHEMA_VERSION 1

enum err_code {
	ERR_NONE = 0,
	ERR_BAD_JOB,
	ERR_BACKEND,
	ERR_TIMEOUT,
	ERR_RATE_LIMITED,
	ERR_PARSE,
	ERR_TOO_LARGE,
	ERR_INTERNAL,
	ERR_POISON, /* in flight at worker.poison_exits unclean exits */
	ERR_COUNT
};

struct candidate {
	char *text; /* owned */
	size_t len;
	double probability; /* normalised over the candidates kept */
	double verbalized; /* NAN = nil */
	int turn; /* 0-based call or turn index */
	char *finish_reason; /* owned: the backend's, for its call; NULL: nil */
};

/*
 * How a result was made (docs/schema.md, Provenance). NULL strings and
 * the has_ flags clear are nil.
 */
struct provenance {
	char *created; /* RFC 3339 UTC time the result was made, with ms */
	char *version; /* the vsampd that made it (result_new: this one) */
	char *template_id; /* the prompt template: "METHOD:HASH" */
	int has_seed;
	uint64_t seed; /* the selection seed */
	int has_decoding; /* a backend was chosen: what its requests carry */
	double temperature; /* NAN: not sent */
	double top_p; /* NAN: not sent */
	long max_tokens; /* 0: not sent */
	int structured; /* the reply's JSON schema was sent */
};

/*
 * A result owns every string and buffer it points to (result_free frees
 * them). Nil fields: id NULL; method/backend/model NULL; selected -1;
 * has_dedup 0; has_diversity 0 (then all of diversity is nil), and inside
 * diversity each NAN is nil; cost NAN; source_topic NULL; metadata NULL;
 * in prov, as struct provenance says.
 */
struct result {
	char *id;
	enum err_code code; /* ERR_NONE: status ok */
	char *errmsg; /* NULL when ok */
	char *method;
	char *backend;
	char *model;
	struct candidate *cands;
	size_t ncands;
	int selected;
	int has_dedup;
	unsigned dedup_in_job;
	unsigned dedup_in_scope;
	int has_diversity;
	double semantic;
	double rouge_l;
	double distinct[3]; /* distinct_1, _2, _3 */
	uint64_t requests;
	uint64_t prompt_tokens;
	uint64_t completion_tokens;
	/* usage.cost at the backends' prices (cost.h); NAN: nil */
	double cost;
	unsigned attempts;
	unsigned failed_calls;
	uint64_t latency_ms;
	char *source_topic;
	int32_t source_partition;
	int64_t source_offset;
	char *metadata; /* one msgpack object, copied verbatim */
	size_t metadata_len;
	struct provenance prov;
};

/* "bad_job", ...; "ok" for ERR_NONE. */
const char *err_code_name(enum err_code c);
int err_code_parse(const char *s, enum err_code *c);

/* A zeroed result with every nil field set to nil. */
struct result *result_new(void);
void result_free(struct result *r);
/* Set r's provenance.created to now, unless it is set already. */
void result_stamp(struct result *r);
/* Make r an error result: sets code and a copy of msg; drops candidates,
 * selection, dedup and diversity (they are nil on error results). */
void result_set_error(struct result *r, enum err_code code, const char *msg);

/*
 * Encode r as a msgpack map with every key of docs/schema.md.
 * Returns a malloc'ed buffer and its length in *lenp.
 */
char *result_encode(const struct result *r, size_t *lenp);

/*
 * Decode a result (vsampctl tail and report, tests, the fuzz round trip).
 * Returns NULL with errstr on anything that is not a well-formed result.
 */
struct result *result_decode(
    const void *buf, size_t len, char *errstr, size_t errlen);

/* The result as one line of JSON (no trailing newline), for vsampctl.
 * metadata is converted from msgpack to JSON. Returns a malloc'ed string. */
char *result_to_json(const struct result *r);

#endif
