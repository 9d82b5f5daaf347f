/*
 * anthropic: the Messages API's JSON and its dialect (see anthropic.h).
 * Leaf module: it builds and parses bytes, and does no I/O.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic.h"
#include "dialect.h"
#include "log.h"
#include "utf8.h"
#include "xmalloc.h"

/* What a request carries of p (see anthropic.h): max_tokens always, no
 * schema (the Messages API has no structured output here). */
static void
anthropic_sent(const struct chat_params *p, struct chat_sent *out)
{
	out->temperature = isfinite(p->temperature) ? p->temperature : NAN;
	out->top_p = isfinite(p->top_p) ? p->top_p : NAN;
	out->max_tokens =
	    p->max_tokens > 0 ? p->max_tokens : ANTHROPIC_MAX_TOKENS;
	out->structured = 0;
	out->n = 1; /* the Messages API has no n */
}

/* The request body (see anthropic.h). */
char *
anthropic_request(
    const struct chat *c, const struct chat_params *p, size_t *lenp)
{
	json_t *root = json_object(), *msgs = json_array();
	struct chat_sent sent;
	struct buf sys;
	char *s;

	buf_init(&sys);
	if (p->model != NULL)
		json_object_set_new(root, "model",
		    utf8_json_string(p->model, strlen(p->model)));
	for (size_t i = 0; i < c->n; i++) {
		const struct chat_msg *m = &c->msgs[i];
		json_t *jm;

		if (m->role == ROLE_SYSTEM) {
			if (sys.len > 0)
				buf_puts(&sys, "\n\n");
			buf_puts(&sys, m->content);
			continue;
		}
		jm = json_object();
		json_object_set_new(jm, "role",
		    json_string(m->role == ROLE_USER ? "user" : "assistant"));
		json_object_set_new(jm, "content",
		    utf8_json_string(m->content, strlen(m->content)));
		json_array_append_new(msgs, jm);
	}
	if (sys.len > 0)
		json_object_set_new(
		    root, "system", utf8_json_string(sys.data, sys.len));
	buf_free(&sys);
	json_object_set_new(root, "messages", msgs);
	anthropic_sent(p, &sent);
	json_object_set_new(
	    root, "max_tokens", json_integer((json_int_t)sent.max_tokens));
	if (!isnan(sent.temperature))
		json_object_set_new(
		    root, "temperature", json_real(sent.temperature));
	if (!isnan(sent.top_p))
		json_object_set_new(root, "top_p", json_real(sent.top_p));
	s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(root);
	if (s == NULL)
		fatalx("anthropic: cannot encode a request body");
	*lenp = strlen(s);
	return s;
}

static uint64_t
count(const json_t *usage, const char *key)
{
	const json_t *v = json_object_get(usage, key);

	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (uint64_t)json_integer_value(v);
	return 0;
}

/* The reply (see anthropic.h). */
int
anthropic_parse(const char *body, size_t len, struct chat_reply *out,
    char *errstr, size_t errlen)
{
	json_t *root, *content, *usage, *sr, *err;
	json_error_t je;
	struct buf text;
	int got = 0;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(errstr, errlen,
		    "reply is not JSON (line %d column %d)", je.line,
		    je.column);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(errstr, errlen, "reply is not a JSON object");
		json_decref(root);
		return -1;
	}
	err = json_object_get(root, "error");
	if (json_is_object(err)) {
		const char *t = json_string_value(json_object_get(err, "type"));

		/* The type only, when it is short and clean. */
		if (t != NULL && strlen(t) < 64 && utf8_valid(t, strlen(t)) &&
		    strspn(t, "abcdefghijklmnopqrstuvwxyz_") == strlen(t))
			snprintf(errstr, errlen, "reply is an error (%s)", t);
		else
			snprintf(errstr, errlen, "reply is an error");
		json_decref(root);
		return -1;
	}
	content = json_object_get(root, "content");
	if (!json_is_array(content)) {
		snprintf(errstr, errlen, "reply has no content array");
		json_decref(root);
		return -1;
	}
	buf_init(&text);
	for (size_t i = 0; i < json_array_size(content); i++) {
		json_t *b = json_array_get(content, i);
		const char *type =
		    json_string_value(json_object_get(b, "type"));
		json_t *t = json_object_get(b, "text");

		if (type == NULL || strcmp(type, "text") != 0)
			continue; /* thinking, tool_use: not the answer */
		if (!json_is_string(t)) {
			snprintf(errstr, errlen,
			    "reply content[%zu] text is not a string", i);
			buf_free(&text);
			json_decref(root);
			return -1;
		}
		buf_append(&text, json_string_value(t), json_string_length(t));
		got = 1;
	}
	if (!got) {
		snprintf(errstr, errlen, "reply has no text content block");
		buf_free(&text);
		json_decref(root);
		return -1;
	}
	if (text.len > 0 && memchr(text.data, '\0', text.len) != NULL) {
		snprintf(errstr, errlen, "reply content contains a NUL byte");
		buf_free(&text);
		json_decref(root);
		return -1;
	}
	out->content = buf_release(&text, &out->len);
	if (out->content == NULL)
		out->content = xstrdup("");
	usage = json_object_get(root, "usage");
	out->has_usage = json_is_object(usage);
	out->prompt_tokens = count(usage, "input_tokens");
	out->completion_tokens = count(usage, "output_tokens");
	sr = json_object_get(root, "stop_reason");
	if (json_is_string(sr))
		out->finish_reason = xstrdup(json_string_value(sr));
	json_decref(root);
	return 0;
}

static const char *const anthropic_headers[] = {
    "anthropic-version: " ANTHROPIC_VERSION,
    NULL,
};

const struct dialect anthropic_dialect = {
    .name = "anthropic",
    .chat_path = "/v1/messages",
    .headers = anthropic_headers,
    .key_header = "x-api-key: ",
    .chat_request = anthropic_request,
    .chat_sent = anthropic_sent,
    .chat_parse = anthropic_parse,
};
