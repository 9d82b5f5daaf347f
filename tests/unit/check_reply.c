/*
 * check_reply: every reply form of docs/methods.md, the
 * failures that must be clean (garbage, truncation, bad UTF-8, NUL bytes)
 * and inputs of several megabytes.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "xmalloc.h"

#define DATADIR SRCDIR "/tests/data/reply/"
#define BIG (5 * 1024 * 1024)

static struct reply r;
static char err[256];

static int
parse_kind(const char *s, enum reply_kind kind, size_t max)
{
	err[0] = '\0';
	return reply_parse(s, strlen(s), kind, max, &r, err, sizeof(err));
}

static int
parse(const char *s)
{
	return parse_kind(s, REPLY_LIST_PROB, 10);
}

static char *
slurp(const char *name, size_t *lenp)
{
	char path[512];
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", DATADIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_release(&b, lenp);
}

static void
assert_item(size_t i, const char *text, double v)
{
	ck_assert_uint_lt(i, r.n);
	ck_assert_str_eq(r.items[i].text, text);
	ck_assert_uint_eq(r.items[i].len, strlen(text));
	if (isnan(v))
		ck_assert_msg(isnan(r.items[i].verbalized),
		    "item %zu verbalized %g, want NAN", i,
		    r.items[i].verbalized);
	else
		ck_assert_double_eq_tol(r.items[i].verbalized, v, 1e-12);
}

static void
assert_fail(const char *why)
{
	ck_assert_uint_eq(r.n, 0);
	ck_assert_ptr_null(r.items);
	ck_assert_ptr_null(r.reasoning);
	ck_assert_str_eq(err, why);
}

static void
teardown(void)
{
	reply_free(&r);
}

START_TEST(test_plain_json)
{
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"A cat.\","
			       "\"probability\":0.6},{\"text\":\"A dog.\","
			       "\"probability\":0.4}]}"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "A cat.", 0.6);
	assert_item(1, "A dog.", 0.4);
	ck_assert_ptr_null(r.reasoning);
}
END_TEST

START_TEST(test_fences)
{
	ck_assert_int_eq(parse("```json\n{\"responses\":[{\"text\":\"x\","
			       "\"probability\":0.5}]}\n```"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "x", 0.5);
	reply_free(&r);
	ck_assert_int_eq(parse("  ```\n{\"responses\":[{\"text\":\"y\","
			       "\"probability\":1}]}\n```  \n"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "y", 1.0);
}
END_TEST

START_TEST(test_synonyms)
{
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"a\",\"confidence\""
			       ":0.2},{\"response\":\"b\",\"probability\":0.3},"
			       "{\"response\":\"c\",\"confidence\":\"40%\"},"
			       "{\"text\":\"d\",\"probability\":null,"
			       "\"confidence\":0.1}]}"),
	    0);
	ck_assert_uint_eq(r.n, 4);
	assert_item(0, "a", 0.2);
	assert_item(1, "b", 0.3);
	assert_item(2, "c", 0.4);
	assert_item(3, "d", 0.1);
}
END_TEST

START_TEST(test_probability_forms)
{
	static const char s[] =
	    "{\"responses\":["
	    "{\"text\":\"pct\",\"probability\":\"70%\"},"
	    "{\"text\":\"pct sp\",\"probability\":\" 12.5 % \"},"
	    "{\"text\":\"str\",\"probability\":\"0.3\"},"
	    "{\"text\":\"missing\"},"
	    "{\"text\":\"big\",\"probability\":70},"
	    "{\"text\":\"neg\",\"probability\":-0.2},"
	    "{\"text\":\"nan\",\"probability\":NaN},"
	    "{\"text\":\"inf\",\"probability\":Infinity},"
	    "{\"text\":\"ninf\",\"probability\":-Infinity},"
	    "{\"text\":\"snan\",\"probability\":\"NaN\"},"
	    "{\"text\":\"sinf\",\"probability\":\"inf\"},"
	    "{\"text\":\"null\",\"probability\":null},"
	    "{\"text\":\"bool\",\"probability\":true},"
	    "{\"text\":\"word\",\"probability\":\"high\"},"
	    "{\"text\":\"exp\",\"probability\":2e-1},"
	    "{\"text\":\"hex\",\"probability\":\"0x1p-2\"}"
	    "]}";

	ck_assert_int_eq(parse_kind(s, REPLY_LIST_PROB, 100), 0);
	ck_assert_uint_eq(r.n, 16);
	assert_item(0, "pct", 0.70);
	assert_item(1, "pct sp", 0.125);
	assert_item(2, "str", 0.3);
	assert_item(3, "missing", NAN);
	assert_item(4, "big", 70.0);
	assert_item(5, "neg", -0.2);
	assert_item(6, "nan", NAN);
	assert_item(7, "inf", NAN);
	assert_item(8, "ninf", NAN);
	assert_item(9, "snan", NAN);
	assert_item(10, "sinf", NAN);
	assert_item(11, "null", NAN);
	assert_item(12, "bool", NAN);
	assert_item(13, "word", NAN);
	assert_item(14, "exp", 0.2);
	assert_item(15, "hex", NAN);
}
END_TEST

/* A numeric literal jansson cannot hold does not fail the reply: the
 * candidate keeps its text, and its probability counts as missing. */
START_TEST(test_overflow_literals)
{
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"big\","
			       "\"probability\":1e999},{\"text\":\"ok\","
			       "\"probability\":0.25}]}"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "big", NAN);
	assert_item(1, "ok", 0.25);
	reply_free(&r);
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"long\","
			       "\"probability\":123456789012345678901234567890}"
			       ",{\"text\":\"neg\",\"probability\":-1.5E+400}"
			       ",{\"text\":\"edge\",\"probability\":"
			       "9223372036854775808}]}"),
	    0);
	ck_assert_uint_eq(r.n, 3);
	assert_item(0, "long", NAN);
	assert_item(1, "neg", NAN);
	assert_item(2, "edge", NAN);
	reply_free(&r);
	/* What fits stays a number; digits inside text are text. */
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"1e999 and "
			       "123456789012345678901234567890\","
			       "\"probability\":9223372036854775807},"
			       "{\"text\":\"tiny\",\"probability\":1e-999}]}"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "1e999 and 123456789012345678901234567890",
	    9223372036854775807.0);
	assert_item(1, "tiny", 0.0);
}
END_TEST

START_TEST(test_trailing_commas)
{
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"a, ]\","
			       "\"probability\":0.5,},\n{\"text\":\"b,}\" ,\n"
			       "\t},\n],\n}"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	/* Commas inside strings are text, never repaired. */
	assert_item(0, "a, ]", 0.5);
	assert_item(1, "b,}", NAN);
}
END_TEST

START_TEST(test_nonfinite_words_in_text)
{
	/* NaN and Infinity inside strings, or as parts of words, stay. */
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"NaN Infinity "
			       "-Infinity\",\"probability\":NaN}]}"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "NaN Infinity -Infinity", NAN);
	reply_free(&r);
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"x\","
			       "\"probability\":NaNa}]}"),
	    -1);
}
END_TEST

START_TEST(test_chatter)
{
	const char *s =
	    "Sure, here {you} go: {\"answer\": 1} and then\n"
	    "{\"responses\":[{\"text\":\"it's {braced} \\\"quoted\\\""
	    "\",\"probability\":0.9}]} and {\"responses\":"
	    "[{\"text\":\"later\"}]}";

	ck_assert_int_eq(parse(s), 0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "it's {braced} \"quoted\"", 0.9);
}
END_TEST

START_TEST(test_chatter_fixture)
{
	size_t len;
	char *s = slurp("chatter.txt", &len);

	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_item(
	    0, "Why did the coffee file a police report? It got mugged.", 0.4);
	assert_item(1, "Decaf? {No} thanks, I like [my] pulse.", 0.35);
	assert_item(2, "Espresso yourself.", NAN);
	ck_assert_ptr_nonnull(r.reasoning);
	ck_assert_str_eq(
	    r.reasoning, "Jokes about {coffee} vary; I'll spread them out.");
	free(s);
}
END_TEST

START_TEST(test_nested_object)
{
	ck_assert_int_eq(parse("{\"result\":{\"responses\":[{\"text\":\"in\","
			       "\"probability\":0.25}]}}"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "in", 0.25);
}
END_TEST

START_TEST(test_top_level_array)
{
	ck_assert_int_eq(parse(" [{\"text\":\"one\",\"probability\":0.5},"
			       "{\"text\":\"two\",\"probability\":\"50%\"}] "),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "one", 0.5);
	assert_item(1, "two", 0.5);
	reply_free(&r);
	/* In chatter, after a citation that is not a reply. */
	ck_assert_int_eq(parse("See [1].\n```\n[{\"text\":\"three\","
			       "\"probability\":1}]\n```"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "three", 1.0);
}
END_TEST

START_TEST(test_xml_fixture)
{
	size_t len;
	char *s = slurp("xml.txt", &len);

	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_item(0, "Fish & chips <hot>\n  with \"salt\"", 0.45);
	assert_item(1, "It's \"fine\" &unknown; here", 0.30);
	assert_item(2, "no number", NAN);
	free(s);
}
END_TEST

START_TEST(test_xml_inline)
{
	ck_assert_int_eq(parse("<response><text>a &amp;amp; b</text>"
			       "<probability>70%</probability></response>"
			       "<response><text>c</text><probability>0.3"
			       "</probability></response>"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	/* Decoded once: &amp;amp; is the text "&amp;". */
	assert_item(0, "a &amp; b", 0.7);
	assert_item(1, "c", 0.3);
	reply_free(&r);
	ck_assert_int_eq(parse("<response><text> </text></response>"), -1);
	assert_fail("no candidates in reply");
}
END_TEST

START_TEST(test_cot_list)
{
	ck_assert_int_eq(parse("{\"reasoning\":\"Think:\\nfirst\",\"responses\""
			       ":[{\"text\":\"r1\",\"probability\":0.5}]}"),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "r1", 0.5);
	ck_assert_str_eq(r.reasoning, "Think:\nfirst");
}
END_TEST

START_TEST(test_poem_fixture)
{
	size_t len;
	char *s = slurp("poem.json", &len);

	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_item(0,
	    "The tide comes in,\n  the tide goes out;\n\nthe moon "
	    "keeps\tcount.\n",
	    0.35);
	assert_item(1,
	    "  Salt on the wind \xe2\x80\x94\nwe were never\nstrangers  ",
	    0.25);
	assert_item(2, "Quiet harbour,\r\nold boats\nsleeping.", 0.1);
	free(s);
}
END_TEST

START_TEST(test_list_kind)
{
	ck_assert_int_eq(
	    parse_kind("[\"first\", \"second\\nline\"]", REPLY_LIST, 5), 0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "first", NAN);
	assert_item(1, "second\nline", NAN);
	reply_free(&r);

	ck_assert_int_eq(
	    parse_kind("{\"responses\":[\"a\",\"b\",\"c\"]}", REPLY_LIST, 2),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "a", NAN);
	assert_item(1, "b", NAN);
	reply_free(&r);

	/* Numbers the sequence method did not ask for are not kept. */
	ck_assert_int_eq(parse_kind("{\"responses\":[{\"text\":\"t\","
				    "\"probability\":0.9}]}",
			     REPLY_LIST, 5),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "t", NAN);
	reply_free(&r);

	ck_assert_int_eq(parse_kind("<response><text>x</text><probability>"
				    "0.5</probability></response>",
			     REPLY_LIST, 5),
	    0);
	assert_item(0, "x", NAN);
}
END_TEST

START_TEST(test_max_items)
{
	const char *s = "{\"responses\":[{\"text\":\"1\"},{\"text\":\"\"},"
			"{\"text\":\"2\"},{\"text\":\"3\"},{\"text\":\"4\"},"
			"{\"text\":\"5\"}]}";

	ck_assert_int_eq(parse_kind(s, REPLY_LIST_PROB, 3), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_item(0, "1", NAN);
	assert_item(1, "2", NAN);
	assert_item(2, "3", NAN);
	reply_free(&r);
	/* 0 means no cap. */
	ck_assert_int_eq(parse_kind(s, REPLY_LIST_PROB, 0), 0);
	ck_assert_uint_eq(r.n, 5);
	reply_free(&r);
	ck_assert_int_eq(parse_kind("<response><text>a</text></response>"
				    "<response><text>b</text></response>",
			     REPLY_LIST_PROB, 1),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "a", NAN);
}
END_TEST

START_TEST(test_empty_items_skipped)
{
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"\","
			       "\"probability\":0.5},{\"text\":\" \\n\\t \"},"
			       "{\"probability\":0.2},{\"text\":42},"
			       "{\"text\":null,\"response\":\"kept\"},"
			       "7,null,[\"x\"],{\"text\":\"  padded  \"}]}"),
	    0);
	ck_assert_uint_eq(r.n, 2);
	assert_item(0, "kept", NAN);
	assert_item(1, "  padded  ", NAN);
	reply_free(&r);

	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"\"},"
			       "{\"text\":\"   \"},{\"probability\":1}]}"),
	    -1);
	assert_fail("no candidates in reply");
	ck_assert_int_eq(parse("{\"responses\":[]}"), -1);
	assert_fail("no candidates in reply");
}
END_TEST

START_TEST(test_garbage)
{
	static const char *bad[] = {"", "   \n", "I cannot help with that.",
	    "{", "}", "{{{", "]]][[[", "{\"responses\": 5}",
	    "{\"responses\":{\"text\":\"a\"}}", "[1, 2, 3]", "null", "\"text\"",
	    "{\"text\":\"lone item\",\"probability\":1}", "<response>",
	    "<response><text>unclosed</text>", "```json\n```",
	    "{\"responses\":[{\"text\":\"a\" \"probability\":1}]}"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i]) == -1, "case %zu parsed", i);
		ck_assert_uint_eq(r.n, 0);
		ck_assert_ptr_null(r.items);
		ck_assert_msg(err[0] != '\0', "case %zu: no error text", i);
	}
	ck_assert_int_eq(parse("I cannot help with that."), -1);
	assert_fail("no responses found in reply");
	/* The error never quotes the reply. */
	ck_assert_int_eq(parse("SECRET-TOKEN { nope"), -1);
	ck_assert_ptr_null(strstr(err, "SECRET"));
	ck_assert_ptr_null(strstr(err, "nope"));
}
END_TEST

START_TEST(test_invalid_utf8)
{
	static const char *bad[] = {"{\"responses\":[{\"text\":\"\xff\"}]}",
	    "{\"responses\":[{\"text\":\"\xc0\xaf\"}]}",
	    "{\"responses\":[{\"text\":\"\xed\xa0\x80\"}]}",
	    "<response><text>caf\xc3</text></response>", "\xe2\x82"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(bad[i]), -1);
		assert_fail("reply is not valid UTF-8");
		ck_assert_int_eq(parse_kind(bad[i], REPLY_SINGLE, 1), -1);
		assert_fail("reply is not valid UTF-8");
	}
	/* Valid multi-byte text passes. */
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"caf\xc3\xa9 "
			       "\xf0\x9f\x98\x80\"}]}"),
	    0);
	assert_item(0, "caf\xc3\xa9 \xf0\x9f\x98\x80", NAN);
}
END_TEST

START_TEST(test_nul_bytes)
{
	static const char s[] = "{\"responses\":[{\"text\":\"a\0b\"}]}";

	ck_assert_int_eq(reply_parse(s, sizeof(s) - 1, REPLY_LIST_PROB, 5, &r,
			     err, sizeof(err)),
	    -1);
	assert_fail("reply contains a NUL byte");
	ck_assert_int_eq(reply_parse(s, sizeof(s) - 1, REPLY_SINGLE, 1, &r, err,
			     sizeof(err)),
	    -1);
	assert_fail("reply contains a NUL byte");
	/* An escaped NUL cannot become part of a C string: skipped. */
	ck_assert_int_eq(
	    parse("{\"responses\":[{\"text\":\"a\\u0000b\"}]}"), -1);
	ck_assert_uint_eq(r.n, 0);
}
END_TEST

/* Every prefix either fails cleanly or gives the first items unchanged. */
static void
check_prefixes(const char *full, enum reply_kind kind)
{
	struct reply want;
	size_t len = strlen(full), ok = 0;

	ck_assert_int_eq(
	    reply_parse(full, len, kind, 10, &want, err, sizeof(err)), 0);
	for (size_t l = 0; l <= len; l++) {
		char *p = xstrndup(full, l);
		int rc = reply_parse(p, l, kind, 10, &r, err, sizeof(err));

		if (rc == -1) {
			ck_assert_uint_eq(r.n, 0);
			ck_assert_ptr_null(r.items);
			ck_assert_ptr_null(r.reasoning);
			ck_assert_msg(
			    err[0] != '\0', "prefix %zu: no error", l);
		} else {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_ge(r.n, 1);
			ck_assert_uint_le(r.n, want.n);
			for (size_t i = 0; i < r.n; i++) {
				ck_assert_str_eq(
				    r.items[i].text, want.items[i].text);
				ck_assert_uint_eq(
				    r.items[i].len, strlen(r.items[i].text));
				if (isnan(want.items[i].verbalized))
					ck_assert(isnan(r.items[i].verbalized));
				else
					ck_assert_double_eq(
					    r.items[i].verbalized,
					    want.items[i].verbalized);
			}
			ok++;
		}
		reply_free(&r);
		free(p);
	}
	ck_assert_uint_ge(ok, 1);
	reply_free(&want);
}

START_TEST(test_truncation)
{
	check_prefixes("Here:\n```json\n{\"reasoning\":\"r [x] {y}\","
		       "\"responses\":[{\"text\":\"Line one\\nline "
		       "\\\"two\\\" {3}\",\"probability\":0.5},"
		       "{\"text\":\"caf\xc3\xa9 [b]\",\"probability\":\"30%\"},"
		       "{\"text\":\"c\"}]}\n```\nbye",
	    REPLY_LIST_PROB);
	check_prefixes("<responses><response><text>a &amp; b</text>"
		       "<probability>0.5</probability></response>"
		       "<response><text>second</text><confidence>20%"
		       "</confidence></response><response><text>third</text>"
		       "</response></responses>",
	    REPLY_LIST_PROB);
	check_prefixes("{\"reasoning\":\"why\",\"response\":\"the {one}\"}",
	    REPLY_COT_SINGLE);
	check_prefixes("[\"a\",\"b\",\"c\"]", REPLY_LIST);
	check_prefixes("{\"seed\":\"q1 {w} [e]\",\"response\":\"the {one}\"}",
	    REPLY_SEED_SINGLE);
}
END_TEST

/* Deterministic mutations of a valid reply: any outcome but a crash, and
 * any candidate non-blank with a consistent length. */
START_TEST(test_mutations)
{
	const char *base = "{\"reasoning\":\"r\",\"seed\":\"s1\",\"response\":"
			   "\"delta\",\"responses\":[{\"text\":"
			   "\"alpha\\nbeta\",\"probability\":0.5,},{\"text\":"
			   "\"gamma\",\"confidence\":\"20%\"}]} <response>"
			   "<text>x</text></response>";
	static const char alphabet[] = "{}[]\",:\\ \n0.%aNI<>/";
	size_t len = strlen(base);
	uint64_t st = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		char *p = xstrndup(base, len);
		int nmut = 1 + iter % 4;

		for (int m = 0; m < nmut; m++) {
			st = st * 6364136223846793005ULL +
			    1442695040888963407ULL;
			p[(st >> 33) % len] =
			    alphabet[(st >> 17) % (sizeof(alphabet) - 1)];
		}
		for (int k = 0; k <= REPLY_SEED_SINGLE; k++) {
			int rc = reply_parse(p, len, (enum reply_kind)k, 5, &r,
			    err, sizeof(err));

			if (rc == 0) {
				ck_assert_uint_ge(r.n, 1);
				ck_assert_uint_le(r.n, 5);
				for (size_t i = 0; i < r.n; i++) {
					ck_assert_uint_eq(r.items[i].len,
					    strlen(r.items[i].text));
					ck_assert_uint_gt(r.items[i].len, 0);
				}
			} else
				ck_assert_uint_eq(r.n, 0);
			reply_free(&r);
		}
		free(p);
	}
}
END_TEST

START_TEST(test_big_text)
{
	struct buf b;
	size_t len;
	char *s;
	const char *want;

	buf_init(&b);
	buf_puts(&b, "{\"responses\":[{\"text\":\"");
	for (size_t i = 0; b.len < BIG; i++)
		buf_puts(&b, i % 8 == 7 ? "line {[\\\"]}\\n" : "word, ");
	buf_puts(&b,
	    "\",\"probability\":0.5},{\"text\":\"b\","
	    "\"probability\":0.5,},]}");
	s = buf_release(&b, &len);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_gt(r.items[0].len, 4 * 1024 * 1024);
	ck_assert_uint_eq(r.items[0].len, strlen(r.items[0].text));
	ck_assert(strncmp(r.items[0].text, "word, word, ", 12) == 0);
	want = "line {[\"]}\nword, ";
	ck_assert_ptr_nonnull(strstr(r.items[0].text, want));
	assert_item(1, "b", 0.5);
	free(s);
}
END_TEST

START_TEST(test_big_many_items)
{
	struct buf b;
	size_t len;
	char *s;

	buf_init(&b);
	buf_puts(&b, "Chatter first. [");
	for (size_t i = 0; b.len < BIG; i++)
		buf_printf(
		    &b, "{\"text\":\"item %zu\",\"probability\":0.001},", i);
	buf_puts(&b, "]");
	s = buf_release(&b, &len);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 5);
	assert_item(0, "item 0", 0.001);
	assert_item(4, "item 4", 0.001);
	free(s);
}
END_TEST

/* Pathological shapes must finish in linear-ish time and fail cleanly. */
START_TEST(test_big_pathological)
{
	static const char tail[] = "{\"responses\":[{\"text\":\"end\"}]}";
	size_t len = BIG;
	char *s = xmalloc(len + 1);

	memset(s, '{', len);
	s[len] = '\0';
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_COT_SINGLE, 1, &r, err, sizeof(err)), -1);

	memset(s, '[', len / 2);
	memset(s + len / 2, ']', len / 2);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);
	assert_fail("no responses found in reply");

	for (size_t i = 0; i < len; i += 2)
		memcpy(s + i, "{}", 2);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);

	memset(s, '"', len);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);

	for (size_t i = 0; i + 10 <= len; i += 10)
		memcpy(s + i, "<response>", 10);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);

	memset(s, ',', len);
	s[0] = '[';
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), -1);

	/* Megabytes of prose, then the JSON. */
	memset(s, 'x', len);
	memcpy(s + len - strlen(tail), tail, strlen(tail));
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_LIST_PROB, 5, &r, err, sizeof(err)), 0);
	assert_item(0, "end", NAN);
	reply_free(&r);
	ck_assert_int_eq(
	    reply_parse(s, len, REPLY_SINGLE, 1, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.items[0].len, len);
	free(s);
}
END_TEST

START_TEST(test_single)
{
	ck_assert_int_eq(parse_kind("  \n Once upon a time,\n  the end.\n\n",
			     REPLY_SINGLE, 1),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "Once upon a time,\n  the end.", NAN);
	ck_assert_ptr_null(r.reasoning);
	reply_free(&r);

	ck_assert_int_eq(
	    parse_kind("{\"response\": \"Roses\\n are red\"}", REPLY_SINGLE, 1),
	    0);
	assert_item(0, "Roses\n are red", NAN);
	reply_free(&r);

	ck_assert_int_eq(parse_kind("```json\n{\"response\": \"fenced\",}\n```",
			     REPLY_SINGLE, 1),
	    0);
	assert_item(0, "fenced", NAN);
	reply_free(&r);

	/* JSON without a response string is the answer as written. */
	ck_assert_int_eq(parse_kind(" {\"answer\": 42} ", REPLY_SINGLE, 1), 0);
	assert_item(0, "{\"answer\": 42}", NAN);
	reply_free(&r);
	ck_assert_int_eq(parse_kind("{\"response\": 42}", REPLY_SINGLE, 1), 0);
	assert_item(0, "{\"response\": 42}", NAN);
	reply_free(&r);
	/* JSON in prose is prose. */
	ck_assert_int_eq(
	    parse_kind("I'd say {\"response\": \"x\"} maybe", REPLY_SINGLE, 1),
	    0);
	assert_item(0, "I'd say {\"response\": \"x\"} maybe", NAN);
	reply_free(&r);

	ck_assert_int_eq(parse_kind("", REPLY_SINGLE, 1), -1);
	assert_fail("empty reply");
	ck_assert_int_eq(parse_kind(" \r\n\t ", REPLY_SINGLE, 1), -1);
	assert_fail("empty reply");
	ck_assert_int_eq(
	    reply_parse(NULL, 0, REPLY_SINGLE, 1, &r, err, sizeof(err)), -1);
	assert_fail("empty reply");
	ck_assert_int_eq(
	    parse_kind("{\"response\": \" \\n \"}", REPLY_SINGLE, 1), -1);
	assert_fail("empty response in reply");
}
END_TEST

START_TEST(test_cot_single)
{
	ck_assert_int_eq(parse_kind("{\"reasoning\":\"Step 1.\\nStep 2.\","
				    "\"response\":\"Answer\\n  kept\"}",
			     REPLY_COT_SINGLE, 1),
	    0);
	ck_assert_uint_eq(r.n, 1);
	assert_item(0, "Answer\n  kept", NAN);
	ck_assert_str_eq(r.reasoning, "Step 1.\nStep 2.");
	reply_free(&r);

	ck_assert_int_eq(parse_kind("Thinking... {not json} ok:\n```json\n"
				    "{\"reasoning\": \"r\", \"response\": "
				    "\"fenced\",}\n```\n",
			     REPLY_COT_SINGLE, 1),
	    0);
	assert_item(0, "fenced", NAN);
	ck_assert_str_eq(r.reasoning, "r");
	reply_free(&r);

	ck_assert_int_eq(
	    parse_kind("{\"response\":\"no reasoning\"}", REPLY_COT_SINGLE, 1),
	    0);
	assert_item(0, "no reasoning", NAN);
	ck_assert_ptr_null(r.reasoning);
	reply_free(&r);

	ck_assert_int_eq(
	    parse_kind("Just an answer.", REPLY_COT_SINGLE, 1), -1);
	assert_fail("no JSON object with a response in reply");
	ck_assert_int_eq(
	    parse_kind("{\"reasoning\":\"r\"}", REPLY_COT_SINGLE, 1), -1);
	assert_fail("no JSON object with a response in reply");
	ck_assert_int_eq(parse_kind("{\"reasoning\":\"r\",\"response\":\"\"}",
			     REPLY_COT_SINGLE, 1),
	    -1);
	assert_fail("empty response in reply");
}
END_TEST

/* ssot: the response is the one candidate; the seed is required and
 * never a candidate, nor kept as reasoning. */
START_TEST(test_seed_single)
{
	static const struct {
		const char *reply;
		const char *want;
	} ok[] = {
	    /* plain, as asked */
	    {"{\"seed\": \"k3Jq9ZpX2mR7vT4w\", \"response\": \"Heads\"}",
		"Heads"},
	    /* fenced, with chatter around it and a trailing comma */
	    {"Here is my answer.\n```json\n{\"seed\": \"a1B2c3D4e5F6g7H8\",\n"
	     " \"response\": \"Line one\\n  line two\",}\n```\nDone.",
		"Line one\n  line two"},
	    /* bare JSON buried in chatter, after an unrelated object */
	    {"Let me see {\"x\": 1} ... {\"seed\":\"zz9\","
	     "\"response\":\"Tails\"} bye",
		"Tails"},
	    /* extra keys are ignored; response before seed is taken */
	    {"{\"response\": \"Blue\", \"reasoning\": \"sum 143, mod 3\", "
	     "\"seed\": \"QwErTy123456\", \"index\": 2}",
		"Blue"},
	    /* an object inside an array, as any bracket inside chatter */
	    {"[{\"seed\": \"abc\", \"response\": \"Heads\"}]", "Heads"},
	    /* the response keeps its text exactly, brackets included */
	    {"{\"seed\":\"s33d\",\"response\":\" {a} [b] \"}", " {a} [b] "},
	};
	static const struct {
		const char *reply;
		const char *why;
	} bad[] = {
	    {"{\"seed\": \"k3Jq9ZpX2mR7vT4w\"}",
		"no response beside the seed in reply"},
	    {"{\"seed\": \"k3Jq9ZpX2mR7vT4w\", \"response\": 4}",
		"response in reply is not a string"},
	    {"{\"response\": \"Heads\"}",
		"no seed beside the response in reply"},
	    {"{\"seed\": 12345, \"response\": \"Heads\"}",
		"seed in reply is not a string"},
	    {"{\"seed\": \"\", \"response\": \"Heads\"}",
		"empty seed in reply"},
	    {"{\"seed\": \" \\n\\t\", \"response\": \"Heads\"}",
		"empty seed in reply"},
	    {"{\"seed\": \"abc123\", \"response\": \"  \"}",
		"empty response in reply"},
	    {"Heads", "no JSON object with a seed and a response in reply"},
	    {"{\"reasoning\": \"r\", \"answer\": \"Heads\"}",
		"no JSON object with a seed and a response in reply"},
	    {"{\"seed\": \"abc\", \"response\": \"Heads\"",
		"no JSON object with a seed and a response in reply"},
	    {"", "no JSON object with a seed and a response in reply"},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(
		    parse_kind(ok[i].reply, REPLY_SEED_SINGLE, 1) == 0,
		    "ok[%zu]: %s", i, err);
		ck_assert_uint_eq(r.n, 1);
		assert_item(0, ok[i].want, NAN);
		ck_assert_ptr_null(r.reasoning);
		reply_free(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(
		    parse_kind(bad[i].reply, REPLY_SEED_SINGLE, 1) == -1,
		    "bad[%zu] parsed", i);
		assert_fail(bad[i].why);
	}
	/* A good object after a faulty one still counts; the first fault
	 * is the one reported when none does. */
	ck_assert_int_eq(parse_kind("{\"seed\":\"\",\"response\":\"a\"} "
				    "{\"seed\":\"x1\",\"response\":\"b\"}",
			     REPLY_SEED_SINGLE, 1),
	    0);
	assert_item(0, "b", NAN);
	reply_free(&r);
	ck_assert_int_eq(parse_kind("{\"seed\":\"\",\"response\":\"a\"} "
				    "{\"response\":\"b\"}",
			     REPLY_SEED_SINGLE, 1),
	    -1);
	assert_fail("empty seed in reply");
	/* The other kinds read an ssot reply as before: direct takes its
	 * response, a list kind finds nothing in it. */
	ck_assert_int_eq(parse_kind("{\"seed\":\"x1\",\"response\":\"b\"}",
			     REPLY_SINGLE, 1),
	    0);
	assert_item(0, "b", NAN);
	reply_free(&r);
	ck_assert_int_eq(parse_kind("{\"seed\":\"x1\",\"response\":\"b\"}",
			     REPLY_LIST_PROB, 5),
	    -1);
	assert_fail("no responses found in reply");
}
END_TEST

START_TEST(test_free_null)
{
	struct reply z;

	reply_free(NULL);
	memset(&z, 0, sizeof(z));
	reply_free(&z);
	reply_free(&z);
	ck_assert_int_eq(parse("{\"responses\":[{\"text\":\"a\"}]}"), 0);
	reply_free(&r);
	reply_free(&r);
	ck_assert_ptr_null(r.items);
	ck_assert_uint_eq(r.n, 0);
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc = tcase_create("forms");
	TCase *big = tcase_create("big");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_plain_json);
	tcase_add_test(tc, test_fences);
	tcase_add_test(tc, test_synonyms);
	tcase_add_test(tc, test_probability_forms);
	tcase_add_test(tc, test_trailing_commas);
	tcase_add_test(tc, test_nonfinite_words_in_text);
	tcase_add_test(tc, test_chatter);
	tcase_add_test(tc, test_chatter_fixture);
	tcase_add_test(tc, test_nested_object);
	tcase_add_test(tc, test_top_level_array);
	tcase_add_test(tc, test_xml_fixture);
	tcase_add_test(tc, test_xml_inline);
	tcase_add_test(tc, test_cot_list);
	tcase_add_test(tc, test_poem_fixture);
	tcase_add_test(tc, test_list_kind);
	tcase_add_test(tc, test_max_items);
	tcase_add_test(tc, test_empty_items_skipped);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_single);
	tcase_add_test(tc, test_cot_single);
	tcase_add_test(tc, test_seed_single);
	tcase_add_test(tc, test_free_null);
	suite_add_tcase(s, tc);

	/* Generous limits: these must not be quadratic, even under
	 * sanitizers and valgrind. */
	tcase_set_timeout(big, 120);
	tcase_add_checked_fixture(big, NULL, teardown);
	tcase_add_test(big, test_mutations);
	tcase_add_test(tc, test_overflow_literals);
	tcase_add_test(big, test_big_text);
	tcase_add_test(big, test_big_many_items);
	tcase_add_test(big, test_big_pathological);
	suite_add_tcase(s, big);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
