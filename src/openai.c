/*
 * openai: request bodies for, and replies from, the OpenAI-compatible
 * /chat/completions and /embeddings endpoints (OpenAI, vLLM, llama.cpp),
 * and the dialect (dialect.h) that names them for the backend.
 *
 * Replies come from outside: every field is checked for type before use,
 * and error messages name what was wrong without echoing the body (at
 * most a short, clean error type from the server). Leaf module: jansson
 * only, no I/O.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "log.h"
#include "openai.h"
#include "utf8.h"
#include "xmalloc.h"

/* Longest error type or code copied from a server's error object. */
#define ERRTYPE_MAX 64

/* Dump compactly, keeping UTF-8 as it is; 15 digits so 0.7 stays 0.7. */
static char *
dump(json_t *root, size_t *lenp)
{
	char *s;

	s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (s == NULL)
		fatalx("openai: cannot encode a request body");
	if (lenp != NULL)
		*lenp = strlen(s);
	return s;
}

/*
 * The decoding parameters a request for p carries: unset ones (NAN, 0,
 * NULL) are left out so that the server's defaults apply; the config's
 * default top_p stands in for the job's and the profile's.
 */
static void
openai_chat_sent(const struct chat_params *p, struct chat_sent *out)
{
	double top_p = !isnan(p->top_p) ? p->top_p : p->default_top_p;

	/* json_real() refuses inf and NaN: those are never sent. */
	out->temperature = isfinite(p->temperature) ? p->temperature : NAN;
	out->top_p = isfinite(top_p) ? top_p : NAN;
	out->max_tokens = p->max_tokens > 0 ? p->max_tokens : 0;
	out->structured = p->schema != NULL;
	out->n = p->n_choices > 1 ? p->n_choices : 1;
}

/*
 * Build a chat-completions request body for conversation c. Unset
 * parameters (NAN, 0, NULL) are left out so that the server's defaults
 * apply; the config's default top_p stands in for the job's and the
 * profile's. Returns a malloc'ed NUL-terminated string; *lenp (if not
 * NULL) gets its length.
 */
char *
openai_chat_request(
    const struct chat *c, const struct chat_params *p, size_t *lenp)
{
	json_t *root, *msgs, *rf;
	struct chat_sent sent;
	char *s;

	root = json_object();
	if (p->model != NULL)
		json_object_set_new(root, "model",
		    utf8_json_string(p->model, strlen(p->model)));
	msgs = json_array();
	for (size_t i = 0; i < c->n; i++) {
		const struct chat_msg *m = &c->msgs[i];
		json_t *jm = json_object();

		json_object_set_new(
		    jm, "role", json_string(role_name(m->role)));
		json_object_set_new(jm, "content",
		    utf8_json_string(m->content, strlen(m->content)));
		json_array_append_new(msgs, jm);
	}
	json_object_set_new(root, "messages", msgs);
	openai_chat_sent(p, &sent);
	if (!isnan(sent.temperature))
		json_object_set_new(
		    root, "temperature", json_real(sent.temperature));
	if (!isnan(sent.top_p))
		json_object_set_new(root, "top_p", json_real(sent.top_p));
	if (sent.max_tokens > 0)
		json_object_set_new(root, "max_tokens",
		    json_integer((json_int_t)sent.max_tokens));
	if (sent.n > 1)
		json_object_set_new(root, "n", json_integer(sent.n));
	if (sent.structured) {
		rf = json_pack("{s:s, s:{s:s, s:b, s:o}}", "type",
		    "json_schema", "json_schema", "name", "vs_reply", "strict",
		    1, "schema", json_deep_copy((const json_t *)p->schema));
		if (rf == NULL)
			fatalx("openai: cannot build response_format");
		json_object_set_new(root, "response_format", rf);
	}
	s = dump(root, lenp);
	json_decref(root);
	return s;
}

/*
 * Describe a server's "error" member without copying its message: the
 * type (or code) only, when it is short, valid UTF-8 and printable.
 */
static void
error_text(const json_t *err, char *errstr, size_t errlen)
{
	const json_t *t = NULL;
	const char *s;
	size_t len;

	if (json_is_object(err)) {
		t = json_object_get(err, "type");
		if (!json_is_string(t) || json_string_length(t) == 0)
			t = json_object_get(err, "code");
	}
	if (json_is_integer(t)) {
		snprintf(errstr, errlen, "backend error: %lld",
		    (long long)json_integer_value(t));
		return;
	}
	if (!json_is_string(t) || json_string_length(t) == 0) {
		snprintf(errstr, errlen, "backend error");
		return;
	}
	s = json_string_value(t);
	len = json_string_length(t);
	if (len > ERRTYPE_MAX)
		len = utf8_trim(s, ERRTYPE_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f) {
			snprintf(errstr, errlen, "backend error");
			return;
		}
	}
	if (!utf8_valid(s, len)) {
		snprintf(errstr, errlen, "backend error");
		return;
	}
	snprintf(errstr, errlen, "backend error: %.*s", (int)len, s);
}

/* A token count: a non-negative JSON integer, else 0. */
static uint64_t
token_count(const json_t *usage, const char *key)
{
	const json_t *v = json_object_get(usage, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	return (uint64_t)json_integer_value(v);
}

/* Parse the body as a JSON object; NULL with errstr otherwise. */
static json_t *
load_object(
    const char *body, size_t len, const char *what, char *errstr, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	/* Allow \u0000 so that a NUL is reported as such, not as bad JSON. */
	root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		snprintf(errstr, errlen,
		    "%s is not valid JSON (line %d, column %d)", what,
		    jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(errstr, errlen, "%s is not a JSON object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * The text of choices[i]: its message content (or its text, completions
 * style), borrowed from the reply. Returns 0, or -1 with errstr.
 */
static int
choice_text(const json_t *choices, size_t i, const json_t **textp,
    char *errstr, size_t errlen)
{
	const json_t *ch, *msg, *content = NULL, *text;

	ch = json_array_get(choices, i);
	if (!json_is_object(ch)) {
		snprintf(errstr, errlen, "reply choices[%zu] is not an object",
		    i);
		return -1;
	}
	msg = json_object_get(ch, "message");
	if (json_is_object(msg))
		content = json_object_get(msg, "content");
	if (!json_is_string(content)) {
		/* Completions style; also names the fault when no message. */
		text = json_object_get(ch, "text");
		if (json_is_string(text) || content == NULL)
			content = text;
	}
	if (!json_is_string(content)) {
		if (content == NULL)
			snprintf(
			    errstr, errlen, "reply has no message content");
		else if (json_is_null(content))
			snprintf(errstr, errlen, "reply content is null");
		else
			snprintf(
			    errstr, errlen, "reply content is not a string");
		return -1;
	}
	if (memchr(json_string_value(content), '\0',
		json_string_length(content)) != NULL) {
		/* Chat messages are C strings: a NUL would cut the history. */
		snprintf(errstr, errlen, "reply content contains a NUL byte");
		return -1;
	}
	*textp = content;
	return 0;
}

/* A copy of choices[i]'s finish reason, or NULL. */
static char *
choice_finish(const json_t *choices, size_t i)
{
	const json_t *fr;

	fr = json_object_get(json_array_get(choices, i), "finish_reason");
	if (!json_is_string(fr))
		return NULL;
	return xstrndup(json_string_value(fr), json_string_length(fr));
}

/*
 * Parse a chat-completions response body[0..len) that asked for want
 * choices (n; 0 counts as 1) into out: of the first want choices, the
 * content of each one's message (or its text, completions style) and
 * its finish reason, in the order of the array, the first inline and
 * the others in out->more; and the token usage of the whole reply (0
 * when absent or not a non-negative integer). A reply with fewer
 * choices gives what it has; a choice without usable content is left
 * out, and the reply fails only when none has any. Only the choices
 * taken are looked at: one asked, one read. An empty content is
 * returned as is. Returns 0, or -1 with errstr (the first choice's
 * fault) and out holding nothing to free.
 */
int
openai_chat_parse_choices(const char *body, size_t len, size_t want,
    struct chat_reply *out, char *errstr, size_t errlen)
{
	json_t *root, *err, *choices, *usage;
	const json_t *content;
	size_t n, got = 0, faults = 0;

	memset(out, 0, sizeof(*out));
	if ((root = load_object(body, len, "reply", errstr, errlen)) == NULL)
		return -1;
	err = json_object_get(root, "error");
	if (err != NULL && !json_is_null(err)) {
		error_text(err, errstr, errlen);
		goto fail;
	}
	choices = json_object_get(root, "choices");
	if (!json_is_array(choices)) {
		snprintf(errstr, errlen, "reply has no choices array");
		goto fail;
	}
	if ((n = json_array_size(choices)) == 0) {
		snprintf(errstr, errlen, "reply has an empty choices array");
		goto fail;
	}
	if (want < 1)
		want = 1;
	if (n > want)
		n = want;
	for (size_t i = 0; i < n; i++) {
		struct chat_choice *c;

		/* The first fault is the one reported, should none do. */
		if (choice_text(choices, i, &content, faults ? NULL : errstr,
			faults ? 0 : errlen) == -1) {
			faults++;
			continue;
		}
		if (got++ == 0) {
			out->len = json_string_length(content);
			out->content =
			    xstrndup(json_string_value(content), out->len);
			out->finish_reason = choice_finish(choices, i);
			continue;
		}
		if (out->more == NULL)
			out->more = xcalloc(n - 1, sizeof(*out->more));
		c = &out->more[out->nmore++];
		c->len = json_string_length(content);
		c->content = xstrndup(json_string_value(content), c->len);
		c->finish_reason = choice_finish(choices, i);
	}
	if (got == 0)
		goto fail;
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		out->has_usage = 1;
		out->prompt_tokens = token_count(usage, "prompt_tokens");
		out->completion_tokens =
		    token_count(usage, "completion_tokens");
	}
	json_decref(root);
	return 0;

fail:
	json_decref(root);
	return -1;
}

/*
 * Parse a reply of one choice: choices[0] (see
 * openai_chat_parse_choices()).
 */
int
openai_chat_parse(const char *body, size_t len, struct chat_reply *out,
    char *errstr, size_t errlen)
{
	return openai_chat_parse_choices(body, len, 1, out, errstr, errlen);
}

/*
 * Build an embeddings request for texts[0..n) (texts[i] is lens[i] bytes;
 * lens may be NULL for NUL-terminated texts). Returns a malloc'ed string.
 */
char *
openai_embed_request(const char *model, const char *const *texts,
    const size_t *lens, size_t n, size_t *lenp)
{
	json_t *root, *input;
	char *s;

	root = json_object();
	if (model != NULL)
		json_object_set_new(
		    root, "model", utf8_json_string(model, strlen(model)));
	input = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(input,
		    utf8_json_string(
			texts[i], lens != NULL ? lens[i] : strlen(texts[i])));
	json_object_set_new(root, "input", input);
	s = dump(root, lenp);
	json_decref(root);
	return s;
}

/*
 * Parse an embeddings response for n inputs. The data array must hold
 * exactly n entries whose "index" values are 0..n-1, each once, and whose
 * embeddings share one dimension > 0 and hold finite numbers only. On
 * success *vecs gets n * *dim floats, row i the vector of input i (free
 * with free(); NULL when n is 0), and 0 is returned; on failure -1 with
 * errstr, *vecs NULL and *dim 0.
 */
int
openai_embed_parse(const char *body, size_t len, size_t n, float **vecs,
    size_t *dim, char *errstr, size_t errlen)
{
	json_t *root, *err, *data, *ent, *idx, *emb, *v;
	float *out = NULL;
	unsigned char *seen = NULL;
	size_t d = 0;

	*vecs = NULL;
	*dim = 0;
	if ((root = load_object(
		 body, len, "embeddings reply", errstr, errlen)) == NULL)
		return -1;
	err = json_object_get(root, "error");
	if (err != NULL && !json_is_null(err)) {
		error_text(err, errstr, errlen);
		goto fail;
	}
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		snprintf(errstr, errlen, "embeddings reply has no data array");
		goto fail;
	}
	if (json_array_size(data) != n) {
		snprintf(errstr, errlen,
		    "embeddings reply has %zu entries, expected %zu",
		    json_array_size(data), n);
		goto fail;
	}
	if (n == 0)
		goto done;
	seen = xcalloc(n, 1);
	for (size_t i = 0; i < n; i++) {
		json_int_t at;

		ent = json_array_get(data, i);
		idx = json_object_get(ent, "index");
		if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
		    (uint64_t)json_integer_value(idx) >= n) {
			snprintf(errstr, errlen,
			    "embeddings entry %zu has a missing or "
			    "out-of-range index",
			    i);
			goto fail;
		}
		at = json_integer_value(idx);
		if (seen[at]) {
			snprintf(errstr, errlen,
			    "embeddings index %lld appears twice",
			    (long long)at);
			goto fail;
		}
		seen[at] = 1;
		emb = json_object_get(ent, "embedding");
		if (!json_is_array(emb) || json_array_size(emb) == 0) {
			snprintf(errstr, errlen,
			    "embeddings entry %zu has no embedding array", i);
			goto fail;
		}
		if (out == NULL) {
			d = json_array_size(emb);
			if (d > SIZE_MAX / sizeof(*out))
				fatalx("openai: embedding too large");
			out = xreallocarray(NULL, n, d * sizeof(*out));
		} else if (json_array_size(emb) != d) {
			snprintf(errstr, errlen,
			    "embeddings entry %zu has dimension %zu, "
			    "expected %zu",
			    i, json_array_size(emb), d);
			goto fail;
		}
		for (size_t j = 0; j < d; j++) {
			float f;

			v = json_array_get(emb, j);
			if (!json_is_number(v) ||
			    !isfinite(f = (float)json_number_value(v))) {
				snprintf(errstr, errlen,
				    "embeddings entry %zu holds a value that "
				    "is not a finite number",
				    i);
				goto fail;
			}
			out[(size_t)at * d + j] = f;
		}
	}
done:
	free(seen);
	json_decref(root);
	*vecs = out;
	*dim = d;
	return 0;

fail:
	free(seen);
	free(out);
	json_decref(root);
	return -1;
}

static const char *const openai_headers[] = {NULL};

const struct dialect openai_dialect = {
    .name = "openai",
    .chat_path = "/chat/completions",
    .headers = openai_headers,
    .key_header = "Authorization: Bearer ",
    .structured_output = 1,
    .chat_request = openai_chat_request,
    .chat_sent = openai_chat_sent,
    .chat_parse = openai_chat_parse,
    .chat_parse_choices = openai_chat_parse_choices,
    .embed_path = "/embeddings",
    .embed_request = openai_embed_request,
    .embed_parse = openai_embed_parse,
};
