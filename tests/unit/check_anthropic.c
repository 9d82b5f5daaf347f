/*
 * check_anthropic: the Messages API request (system at the top, max_tokens
 * always, top_p only when given, no response_format) and reply parsing
 * (text blocks joined, other blocks skipped, usage, errors that do not
 * echo the body).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic.h"
#include "chat.h"
#include "dialect.h"

static json_t *
build(const struct chat_params *p)
{
	struct chat c;
	json_t *v;
	size_t len;
	char *body;

	chat_init(&c);
	chat_add(&c, ROLE_SYSTEM, "Be brief.", 9);
	chat_add(&c, ROLE_SYSTEM, "Answer in JSON.", 15);
	chat_add(&c, ROLE_USER, "Hi", 2);
	chat_add(&c, ROLE_ASSISTANT, "{\"a\":1}", 7);
	chat_add(&c, ROLE_USER, "Another", 7);
	body = anthropic_request(&c, p, &len);
	ck_assert_uint_eq(len, strlen(body));
	v = json_loads(body, 0, NULL);
	ck_assert_ptr_nonnull(v);
	free(body);
	chat_free(&c);
	return v;
}

START_TEST(test_request)
{
	struct chat_params p = {.model = "claude-x",
	    .temperature = 0.7,
	    .top_p = NAN,
	    .default_top_p = 0.5,
	    .max_tokens = 0,
	    .schema = NULL};
	json_t *v = build(&p), *m;

	ck_assert_str_eq(json_string_value(json_object_get(v, "model")),
	    "claude-x");
	ck_assert_str_eq(json_string_value(json_object_get(v, "system")),
	    "Be brief.\n\nAnswer in JSON.");
	m = json_object_get(v, "messages");
	ck_assert_uint_eq(json_array_size(m), 3);
	ck_assert_str_eq(json_string_value(json_object_get(
			     json_array_get(m, 0), "role")),
	    "user");
	ck_assert_str_eq(json_string_value(json_object_get(
			     json_array_get(m, 1), "content")),
	    "{\"a\":1}");
	/* max_tokens always; top_p only when set (the config's default is
	 * the server's business); never response_format. */
	ck_assert_int_eq(json_integer_value(json_object_get(v, "max_tokens")),
	    ANTHROPIC_MAX_TOKENS);
	ck_assert_ptr_null(json_object_get(v, "top_p"));
	ck_assert_ptr_null(json_object_get(v, "response_format"));
	ck_assert(fabs(json_real_value(json_object_get(v, "temperature")) -
		      0.7) < 1e-12);
	json_decref(v);
	p.top_p = 0.9;
	p.max_tokens = 300;
	p.temperature = NAN;
	v = build(&p);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "max_tokens")),
	    300);
	ck_assert(fabs(json_real_value(json_object_get(v, "top_p")) - 0.9) <
	    1e-12);
	ck_assert_ptr_null(json_object_get(v, "temperature"));
	json_decref(v);
}
END_TEST

/* What chat_sent says is sent is what the body holds. */
START_TEST(test_sent)
{
	const double vals[] = {NAN, 0.0, 0.9, INFINITY};
	const long maxes[] = {0, 300};

	for (size_t a = 0; a < 4; a++)
		for (size_t b = 0; b < 4; b++)
			for (size_t e = 0; e < 2; e++) {
				struct chat_params p = {.model = "m",
				    .temperature = vals[a],
				    .top_p = vals[b],
				    .default_top_p = 0.5,
				    .max_tokens = maxes[e],
				    .schema = NULL};
				struct chat_sent sent;
				json_t *v = build(&p), *x;

				anthropic_dialect.chat_sent(&p, &sent);
				x = json_object_get(v, "temperature");
				ck_assert(isnan(sent.temperature) == (x == NULL));
				if (x != NULL)
					ck_assert(json_real_value(x) ==
					    sent.temperature);
				x = json_object_get(v, "top_p");
				ck_assert(isnan(sent.top_p) == (x == NULL));
				if (x != NULL)
					ck_assert(json_real_value(x) == sent.top_p);
				ck_assert_int_eq(json_integer_value(json_object_get(
						     v, "max_tokens")),
				    sent.max_tokens);
				ck_assert_int_eq(sent.structured, 0);
				json_decref(v);
			}
}
END_TEST

static int
parse(const char *body, struct chat_reply *r, char *err)
{
	return anthropic_parse(body, strlen(body), r, err, 256);
}

START_TEST(test_parse)
{
	struct chat_reply r;
	char err[256];

	ck_assert_int_eq(parse("{\"type\":\"message\",\"content\":["
			       "{\"type\":\"thinking\",\"thinking\":\"hm\"},"
			       "{\"type\":\"text\",\"text\":\"Hello, \"},"
			       "{\"type\":\"text\",\"text\":\"world\"}],"
			       "\"stop_reason\":\"end_turn\",\"usage\":{"
			       "\"input_tokens\":12,\"output_tokens\":3}}",
			     &r, err),
	    0);
	ck_assert_str_eq(r.content, "Hello, world");
	ck_assert_uint_eq(r.len, 12);
	ck_assert_uint_eq(r.prompt_tokens, 12);
	ck_assert_uint_eq(r.completion_tokens, 3);
	ck_assert_int_eq(r.has_usage, 1);
	ck_assert_str_eq(r.finish_reason, "end_turn");
	chat_reply_free(&r);
	/* No usage: zero tokens, still ok. */
	ck_assert_int_eq(
	    parse("{\"content\":[{\"type\":\"text\",\"text\":\"\"}]}", &r, err),
	    0);
	ck_assert_str_eq(r.content, "");
	ck_assert_uint_eq(r.prompt_tokens, 0);
	ck_assert_int_eq(r.has_usage, 0); /* its cost is unknown */
	chat_reply_free(&r);
}
END_TEST

START_TEST(test_parse_errors)
{
	struct chat_reply r;
	char err[256];

	ck_assert_int_eq(parse("not json", &r, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not JSON"));
	ck_assert_int_eq(parse("[1]", &r, err), -1);
	ck_assert_int_eq(parse("{\"type\":\"error\",\"error\":{\"type\":"
			       "\"overloaded_error\",\"message\":\"SECRET "
			       "body text\"}}",
			     &r, err),
	    -1);
	ck_assert_str_eq(err, "reply is an error (overloaded_error)");
	ck_assert_int_eq(parse("{\"error\":{\"type\":\"Bad<script>\"}}", &r,
			     err),
	    -1);
	ck_assert_str_eq(err, "reply is an error");
	ck_assert_int_eq(parse("{\"content\":\"text\"}", &r, err), -1);
	ck_assert_str_eq(err, "reply has no content array");
	ck_assert_int_eq(
	    parse("{\"content\":[{\"type\":\"tool_use\"}]}", &r, err), -1);
	ck_assert_str_eq(err, "reply has no text content block");
	ck_assert_int_eq(
	    parse("{\"content\":[{\"type\":\"text\",\"text\":7}]}", &r, err),
	    -1);
	ck_assert_int_eq(parse("{\"content\":[{\"type\":\"text\",\"text\":"
			       "\"a\\u0000b\"}]}",
			     &r, err),
	    -1); /* jansson refuses \u0000 without JSON_ALLOW_NUL */
}
END_TEST

START_TEST(test_dialect)
{
	const struct dialect *d = dialect_find("anthropic");

	ck_assert_ptr_eq(d, &anthropic_dialect);
	ck_assert_str_eq(d->chat_path, "/v1/messages");
	ck_assert_str_eq(d->headers[0], "anthropic-version: 2023-06-01");
	ck_assert_ptr_null(d->headers[1]);
	ck_assert_str_eq(d->key_header, "x-api-key: ");
	ck_assert(d->chat_request == anthropic_request);
	ck_assert(d->chat_parse == anthropic_parse);
	/* No embeddings: the config refuses the type for them. */
	ck_assert_ptr_null(d->embed_path);
	/* No n either: one choice per request, supports_n refused. */
	ck_assert(d->chat_parse_choices == NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("anthropic");
	TCase *tc = tcase_create("anthropic");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_request);
	tcase_add_test(tc, test_sent);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_dialect);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
