/*
 * fuzz_job: libFuzzer target for job_decode(), both wire formats (a JSON
 * object after optional whitespace and a BOM, msgpack otherwise).
 *
 * Besides the sanitizers it checks the decoder's contract (job.h,
 * docs/schema.md): a decoded job has a valid id and fields within
 * their bounds, a failure leaves no job and at most a valid id, and an
 * error message never echoes input bytes (ours are printable ASCII).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "job.h"
#include "method.h"
#include "select.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_job: broken contract: %s\n", what);
	abort();
}

/* A C string we own: valid UTF-8 (NULs cannot occur in a C string). */
static void
check_str(const char *s, const char *what)
{
	if (s != NULL)
		check(utf8_valid(s, strlen(s)), what);
}

static void
check_errstr(const char *err)
{
	check(err[0] != '\0', "failure without a message");
	for (const char *p = err; *p != '\0'; p++)
		check(*p >= 0x20 && *p < 0x7f, "message not printable ASCII");
}

static void
check_id(const char *id)
{
	size_t n = strlen(id);

	check(n >= 1 && n <= JOB_ID_MAX, "id length");
	check_str(id, "id UTF-8");
}

static void
check_job(const struct job *job)
{
	check(job->id != NULL, "job without id");
	check_id(job->id);
	check(job->prompt != NULL || job->messages != NULL, "job without task");
	check_str(job->prompt, "prompt UTF-8");
	if (job->messages != NULL) {
		check(job->nmessages > 0, "empty messages");
		check(job->messages[job->nmessages - 1].role == ROLE_USER,
		    "last message not user");
		for (size_t i = 0; i < job->nmessages; i++) {
			check(job->messages[i].content != NULL, "content");
			check_str(job->messages[i].content, "content UTF-8");
			check((int)job->messages[i].role >= ROLE_SYSTEM &&
				job->messages[i].role <= ROLE_ASSISTANT,
			    "role");
		}
	} else
		check(job->nmessages == 0, "nmessages without messages");
	check(job->method == -1 ||
		(job->method >= 0 && job->method < METHOD_COUNT),
	    "method");
	check(job->k >= 0 && job->k <= JOB_K_MAX, "k");
	check(job->n >= 0 && job->n <= JOB_N_MAX, "n");
	check(isnan(job->tail) || (job->tail > 0 && job->tail <= 1), "tail");
	check(isnan(job->min_probability) ||
		(job->min_probability >= 0 && job->min_probability <= 1),
	    "min_probability");
	check(job->min_keep >= 0 && job->min_keep <= JOB_N_MAX, "min_keep");
	check(job->select >= -1 && job->select <= SELECT_NONE, "select");
	check(isnan(job->temperature) ||
		(job->temperature >= 0 && job->temperature <= 2),
	    "temperature");
	check(
	    isnan(job->top_p) || (job->top_p > 0 && job->top_p <= 1), "top_p");
	check(job->max_tokens >= 0, "max_tokens");
	check(job->embed >= -1 && job->embed <= 1, "embed");
	check_str(job->backend, "backend UTF-8");
	check_str(job->model, "model UTF-8");
	check_str(job->instructions, "instructions UTF-8");
	check_str(job->dedup_scope, "dedup_scope UTF-8");
	check((job->metadata == NULL) == (job->metadata_len == 0),
	    "metadata length");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job *job;
	char err[256], *id = (char *)1;

	err[0] = 'x';
	err[1] = '\0';
	job = job_decode(data, size, &id, err, sizeof(err));
	if (job != NULL) {
		check(id == NULL, "id handed back on success");
		check_job(job);
		job_free(job);
		return 0;
	}
	check_errstr(err);
	if (id != NULL) {
		check_id(id);
		free(id);
	}
	/* idp may be NULL. */
	job_free(job_decode(data, size, NULL, err, sizeof(err)));
	return 0;
}
