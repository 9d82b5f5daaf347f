/*
 * fuzz_result: libFuzzer target for the result codecs. Arbitrary bytes
 * go to result_decode(); when they decode, the result is encoded, decoded
 * again and both decodes must agree field by field (abort otherwise), the
 * second encoding must equal the first byte for byte, and the JSON form
 * must be valid JSON.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "result.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
mismatch(const char *field)
{
	fprintf(stderr, "fuzz_result: round trip changed %s\n", field);
	abort();
}

static void
same_str(const char *a, const char *b, const char *field)
{
	if (a == NULL && b == NULL)
		return;
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
		mismatch(field);
}

static void
same_bytes(
    const char *a, size_t alen, const char *b, size_t blen, const char *field)
{
	if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
		mismatch(field);
	if ((a == NULL) != (b == NULL))
		mismatch(field);
}

/* Equal, or both NaN; 0.0 and -0.0 differ. */
static void
same_double(double a, double b, const char *field)
{
	if (isnan(a) && isnan(b))
		return;
	if (a != b || signbit(a) != signbit(b))
		mismatch(field);
}

static void
same_provenance(const struct provenance *a, const struct provenance *b)
{
	same_str(a->created, b->created, "created");
	same_str(a->version, b->version, "vsampd");
	same_str(a->template_id, b->template_id, "template");
	if (a->has_seed != b->has_seed || (a->has_seed && a->seed != b->seed))
		mismatch("seed");
	if (a->has_decoding != b->has_decoding)
		mismatch("decoding");
	if (!a->has_decoding)
		return;
	same_double(a->temperature, b->temperature, "temperature");
	same_double(a->top_p, b->top_p, "top_p");
	if (a->max_tokens != b->max_tokens || a->structured != b->structured)
		mismatch("decoding");
}

static void
same_result(const struct result *a, const struct result *b)
{
	same_str(a->id, b->id, "id");
	if (a->code != b->code)
		mismatch("code");
	same_str(a->errmsg, b->errmsg, "errmsg");
	same_str(a->method, b->method, "method");
	same_str(a->backend, b->backend, "backend");
	same_str(a->model, b->model, "model");
	if (a->ncands != b->ncands)
		mismatch("ncands");
	for (size_t i = 0; i < a->ncands; i++) {
		const struct candidate *ca = &a->cands[i], *cb = &b->cands[i];

		same_bytes(ca->text, ca->len, cb->text, cb->len, "text");
		same_double(ca->probability, cb->probability, "probability");
		same_double(ca->verbalized, cb->verbalized, "verbalized");
		if (ca->turn != cb->turn)
			mismatch("turn");
		same_str(ca->finish_reason, cb->finish_reason, "finish_reason");
	}
	if (a->selected != b->selected)
		mismatch("selected");
	if (a->has_dedup != b->has_dedup ||
	    a->dedup_in_job != b->dedup_in_job ||
	    a->dedup_in_scope != b->dedup_in_scope)
		mismatch("dedup");
	if (a->has_diversity != b->has_diversity)
		mismatch("has_diversity");
	same_double(a->semantic, b->semantic, "semantic");
	same_double(a->rouge_l, b->rouge_l, "rouge_l");
	for (int i = 0; i < 3; i++)
		same_double(a->distinct[i], b->distinct[i], "distinct");
	if (a->requests != b->requests ||
	    a->prompt_tokens != b->prompt_tokens ||
	    a->completion_tokens != b->completion_tokens)
		mismatch("usage");
	same_double(a->cost, b->cost, "cost");
	if (a->attempts != b->attempts || a->failed_calls != b->failed_calls ||
	    a->latency_ms != b->latency_ms)
		mismatch("counters");
	same_str(a->source_topic, b->source_topic, "source_topic");
	if (a->source_partition != b->source_partition ||
	    a->source_offset != b->source_offset)
		mismatch("source");
	same_bytes(a->metadata, a->metadata_len, b->metadata, b->metadata_len,
	    "metadata");
	same_provenance(&a->prov, &b->prov);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result *r1, *r2;
	char err[256], *e1, *e2, *js;
	size_t l1, l2;
	json_error_t jerr;
	json_t *j;

	err[0] = '\0';
	if ((r1 = result_decode(data, size, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			mismatch("(failure without a message)");
		return 0;
	}
	e1 = result_encode(r1, &l1);
	if ((r2 = result_decode(e1, l1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_result: re-encoded result: %s\n", err);
		abort();
	}
	same_result(r1, r2);
	e2 = result_encode(r2, &l2);
	same_bytes(e1, l1, e2, l2, "(encoding)");

	/* Valid JSON; jansson reads all of it except a NUL in a key, which
	 * JSON allows and metadata may hold. */
	js = result_to_json(r1);
	if ((j = json_loads(js, JSON_ALLOW_NUL, &jerr)) == NULL) {
		if (json_error_code(&jerr) != json_error_null_byte_in_key) {
			fprintf(stderr, "fuzz_result: result_to_json: %s\n",
			    jerr.text);
			abort();
		}
	} else if (!json_is_object(j)) {
		fprintf(stderr, "fuzz_result: result_to_json: not an object\n");
		abort();
	}
	json_decref(j);
	free(js);
	free(e1);
	free(e2);
	result_free(r1);
	result_free(r2);
	return 0;
}
