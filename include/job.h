/*
 * job: decoding and validation of a generation job (docs/schema.md).
 *
 * A job arrives as a msgpack map or a JSON object (first byte '{' after
 * optional whitespace and a UTF-8 BOM). The decoder is a leaf module: no
 * I/O, no globals. Unset optional fields keep the sentinels documented
 * below; defaults from the config are applied by the pipeline, not here.
 */
#ifndef VSAMPD_JOB_H
#define VSAMPD_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "method.h"
#include "mpscan.h"

#define JOB_ID_MAX 256
#define JOB_K_MAX 100
#define JOB_N_MAX 1000
#define JOB_DEPTH_MAX MPSCAN_DEPTH_MAX /* the top map is level 1 */

struct job_message {
	enum role role;
	char *content;
};

struct job {
	char *id; /* 1..256 bytes of UTF-8, NUL-terminated */
	char *prompt; /* NULL when absent */
	struct job_message *messages; /* NULL when absent */
	size_t nmessages;
	int method; /* enum method, or -1 when unset */
	int k; /* 0 when unset, else 1..100 */
	int n; /* 0 when unset, else 1..1000 */
	double tail; /* NAN when unset, else (0,1] */
	double min_probability; /* NAN when unset, else [0,1] */
	int min_keep; /* 0 when unset, else 1..1000: min_probability's
		       * fallback, the most probable kept when fewer pass */
	int select; /* enum select_mode, or -1 when unset */
	int has_seed;
	uint64_t seed;
	char *backend; /* NULL when unset */
	char *model; /* NULL when unset */
	double temperature; /* NAN when unset */
	double top_p; /* NAN when unset */
	long max_tokens; /* 0 when unset */
	char *instructions; /* NULL when unset */
	char *dedup_scope; /* NULL when unset */
	int embed; /* -1 unset, 0 false, 1 true */
	/* metadata re-encoded as one msgpack object; NULL when absent */
	char *metadata;
	size_t metadata_len;
};

/*
 * Decode and validate a job from buf[0..len).
 * On success returns a new job (free with job_free) and leaves *idp NULL.
 * On failure returns NULL, writes a message naming the field into errstr
 * (never echoing input bytes) and, when a valid id could be read, sets *idp
 * to a copy of it (caller frees) so that the error result can carry it.
 * idp may be NULL.
 */
struct job *job_decode(
    const void *buf, size_t len, char **idp, char *errstr, size_t errlen);
void job_free(struct job *job);

#endif
