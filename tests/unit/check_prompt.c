/*
 * check_prompt: the call plan of every method, the messages rendered for
 * it, the follow-up turns and the structured-output schemas.
 *
 * The full system message of each method is also compared with a golden
 * file in tests/data/prompt/, so that a change of wording is a visible,
 * reviewed change (rewrite them with VSAMPD_UPDATE_GOLDEN=1).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "job.h"
#include "method.h"
#include "prompt.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* A job with every optional field at its "unset" sentinel (job.h). */
static void
job_blank(struct job *j)
{
	memset(j, 0, sizeof(*j));
	j->id = "job-1";
	j->method = -1;
	j->tail = NAN;
	j->min_probability = NAN;
	j->select = -1;
	j->temperature = NAN;
	j->top_p = NAN;
	j->embed = -1;
}

static struct prompt_params
params(enum method m, int k, int n)
{
	struct prompt_params pp;

	pp.method = m;
	pp.k = k;
	pp.n = n;
	pp.tail = NAN;
	pp.instructions = NULL;
	pp.chunk = 0;
	return pp;
}

static int
contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* Render a prompt-only job; returns the chat (caller frees). */
static void
render(const struct prompt_params *pp, const char *prompt, int asked,
    struct chat *c)
{
	struct job j;
	char err[128];

	job_blank(&j);
	j.prompt = (char *)prompt;
	chat_init(c);
	ck_assert_int_eq(prompt_build(pp, &j, asked, c, err, sizeof(err)), 0);
}

/* ---- plan ------------------------------------------------------------ */

START_TEST(test_plan_list_methods)
{
	static const enum method list[] = {METHOD_SEQUENCE, METHOD_VS_STANDARD,
	    METHOD_VS_COT, METHOD_VS_MULTI};

	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		struct prompt_params pp = params(list[i], 5, 12);

		/* 12 = 5 + 5 + 2 */
		ck_assert_int_eq(prompt_ncalls(&pp), 3);
		ck_assert_int_eq(prompt_asked(&pp, 0), 5);
		ck_assert_int_eq(prompt_asked(&pp, 1), 5);
		ck_assert_int_eq(prompt_asked(&pp, 2), 2);
		ck_assert_int_eq(prompt_asked(&pp, 3), 0);
		ck_assert_int_eq(prompt_asked(&pp, -1), 0);

		pp = params(list[i], 5, 10);
		ck_assert_int_eq(prompt_ncalls(&pp), 2);
		ck_assert_int_eq(prompt_asked(&pp, 1), 5);

		pp = params(list[i], 5, 3);
		ck_assert_int_eq(prompt_ncalls(&pp), 1);
		ck_assert_int_eq(prompt_asked(&pp, 0), 3);

		pp = params(list[i], 20, 100);
		ck_assert_int_eq(prompt_ncalls(&pp), 5);
		ck_assert_int_eq(prompt_asked(&pp, 4), 20);

		pp = params(list[i], 1, 7);
		ck_assert_int_eq(prompt_ncalls(&pp), 7);
		ck_assert_int_eq(prompt_asked(&pp, 6), 1);

		pp = params(list[i], 100, 1000);
		ck_assert_int_eq(prompt_ncalls(&pp), 10);

		pp = params(list[i], 3, 1000);
		ck_assert_int_eq(prompt_ncalls(&pp), 334);
		ck_assert_int_eq(prompt_asked(&pp, 333), 1);
	}
}
END_TEST

START_TEST(test_plan_single_methods)
{
	static const enum method single[] = {METHOD_DIRECT, METHOD_DIRECT_COT,
	    METHOD_MULTI_TURN, METHOD_SSOT};

	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		struct prompt_params pp = params(single[i], 5, 12);

		ck_assert_int_eq(prompt_ncalls(&pp), 12);
		for (int c = 0; c < 12; c++)
			ck_assert_int_eq(prompt_asked(&pp, c), 1);
		ck_assert_int_eq(prompt_asked(&pp, 12), 0);

		pp = params(single[i], 5, 1);
		ck_assert_int_eq(prompt_ncalls(&pp), 1);
		ck_assert_int_eq(prompt_asked(&pp, 0), 1);
	}
}
END_TEST

/* Several choices per call (n): direct, direct_cot and ssot only. */
START_TEST(test_plan_choices)
{
	static const enum method with[] = {
	    METHOD_DIRECT, METHOD_DIRECT_COT, METHOD_SSOT};
	static const enum method without[] = {METHOD_MULTI_TURN,
	    METHOD_SEQUENCE, METHOD_VS_STANDARD, METHOD_VS_COT,
	    METHOD_VS_MULTI};

	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		struct prompt_params pp = params(with[i], 5, 10);

		ck_assert_int_eq(prompt_has_choices(with[i]), 1);
		/* 10 = 4 + 4 + 2 */
		pp.chunk = 4;
		ck_assert_int_eq(prompt_ncalls(&pp), 3);
		ck_assert_int_eq(prompt_choices(&pp, 0), 4);
		ck_assert_int_eq(prompt_choices(&pp, 1), 4);
		ck_assert_int_eq(prompt_choices(&pp, 2), 2);
		ck_assert_int_eq(prompt_choices(&pp, 3), 0);
		ck_assert_int_eq(prompt_choices(&pp, -1), 0);
		/* Each choice's text is one candidate. */
		for (int c = 0; c < 3; c++)
			ck_assert_int_eq(prompt_asked(&pp, c), 1);
		ck_assert_int_eq(prompt_asked(&pp, 3), 0);
		/* An exact multiple, a chunk over n, a chunk of 1. */
		pp.chunk = 5;
		ck_assert_int_eq(prompt_ncalls(&pp), 2);
		ck_assert_int_eq(prompt_choices(&pp, 1), 5);
		pp.chunk = 128;
		ck_assert_int_eq(prompt_ncalls(&pp), 1);
		ck_assert_int_eq(prompt_choices(&pp, 0), 10);
		pp.chunk = 1;
		ck_assert_int_eq(prompt_ncalls(&pp), 10);
		ck_assert_int_eq(prompt_choices(&pp, 9), 1);
		/* 0 (or nonsense) is one choice per call, as before. */
		pp.chunk = 0;
		ck_assert_int_eq(prompt_ncalls(&pp), 10);
		ck_assert_int_eq(prompt_choices(&pp, 9), 1);
		pp.chunk = -3;
		ck_assert_int_eq(prompt_ncalls(&pp), 10);
		pp = params(with[i], 5, 1000);
		pp.chunk = 16;
		ck_assert_int_eq(prompt_ncalls(&pp), 63);
		ck_assert_int_eq(prompt_choices(&pp, 62), 1000 - 62 * 16);
		pp.n = 0;
		ck_assert_int_eq(prompt_ncalls(&pp), 0);
		ck_assert_int_eq(prompt_choices(&pp, 0), 0);
	}
	/* The others plan as without it, one choice per call. */
	for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		struct prompt_params pp = params(without[i], 5, 12);
		int ncalls = prompt_ncalls(&pp);

		ck_assert_int_eq(prompt_has_choices(without[i]), 0);
		pp.chunk = 4;
		ck_assert_int_eq(prompt_ncalls(&pp), ncalls);
		for (int c = 0; c < ncalls; c++)
			ck_assert_int_eq(prompt_choices(&pp, c), 1);
		ck_assert_int_eq(prompt_choices(&pp, ncalls), 0);
	}
}
END_TEST

START_TEST(test_plan_kinds)
{
	ck_assert_int_eq(prompt_is_conversation(METHOD_DIRECT), 0);
	ck_assert_int_eq(prompt_is_conversation(METHOD_DIRECT_COT), 0);
	ck_assert_int_eq(prompt_is_conversation(METHOD_SEQUENCE), 0);
	ck_assert_int_eq(prompt_is_conversation(METHOD_MULTI_TURN), 1);
	ck_assert_int_eq(prompt_is_conversation(METHOD_VS_STANDARD), 0);
	ck_assert_int_eq(prompt_is_conversation(METHOD_VS_COT), 0);
	ck_assert_int_eq(prompt_is_conversation(METHOD_VS_MULTI), 1);
	ck_assert_int_eq(prompt_is_conversation(METHOD_SSOT), 0);

	ck_assert_int_eq(prompt_reply_kind(METHOD_DIRECT), REPLY_SINGLE);
	ck_assert_int_eq(
	    prompt_reply_kind(METHOD_DIRECT_COT), REPLY_COT_SINGLE);
	ck_assert_int_eq(prompt_reply_kind(METHOD_SEQUENCE), REPLY_LIST);
	ck_assert_int_eq(prompt_reply_kind(METHOD_MULTI_TURN), REPLY_SINGLE);
	ck_assert_int_eq(
	    prompt_reply_kind(METHOD_VS_STANDARD), REPLY_LIST_PROB);
	ck_assert_int_eq(prompt_reply_kind(METHOD_VS_COT), REPLY_LIST_PROB);
	ck_assert_int_eq(prompt_reply_kind(METHOD_VS_MULTI), REPLY_LIST_PROB);
	ck_assert_int_eq(prompt_reply_kind(METHOD_SSOT), REPLY_SEED_SINGLE);
}
END_TEST

/* ---- rendered messages ----------------------------------------------- */

struct phrases {
	enum method m;
	int asked;
	const char *want[6];
	const char *reject[4];
};

static const struct phrases phrase_table[] = {
    {METHOD_DIRECT, 1, {"Respond to the last user message", "response only"},
	{"JSON", "probability", "\"responses\"", "reasoning"}},
    {METHOD_MULTI_TURN, 1,
	{"Respond to the last user message", "response only"},
	{"JSON", "probability", "\"responses\"", "reasoning"}},
    {METHOD_DIRECT_COT, 1,
	{"step by step", "{\"reasoning\": ", "\"response\": ", "JSON"},
	{"\"responses\"", "probability", "\"text\""}},
    {METHOD_SSOT, 1,
	{"random string", "16 to 32 letters and digits",
	    "{\"seed\": \"<your random string>\", \"response\": ", "JSON",
	    "Write \"seed\" before \"response\"."},
	{"\"responses\"", "probability", "\"reasoning\"", "step by step"}},
    {METHOD_SEQUENCE, 4,
	{"Write 4 responses", "different", "{\"responses\": [{\"text\": ",
	    "must hold 4 items", "Do not give probabilities"},
	{"\"probability\"", "reasoning", "distribution"}},
    {METHOD_SEQUENCE, 1, {"Write 1 response to", "must hold 1 item."},
	{"\"probability\"", "1 responses"}},
    {METHOD_VS_STANDARD, 5,
	{"Write 5 responses", "full distribution",
	    "{\"responses\": [{\"text\": ", "\"probability\": ",
	    "between 0 and 1", "must hold 5 items"},
	{"reasoning", "step by step"}},
    {METHOD_VS_STANDARD, 2, {"Write 2 responses", "must hold 2 items"}, {"5"}},
    {METHOD_VS_COT, 7,
	{"step by step", "write 7 responses", "full distribution",
	    "{\"reasoning\": ", "\"responses\": [{\"text\": ",
	    "\"probability\": "},
	{"Write 5"}},
    {METHOD_VS_MULTI, 3,
	{"Write 3 responses", "full distribution",
	    "\"responses\": ", "\"probability\": ", "must hold 3 items"},
	{"reasoning"}},
};

START_TEST(test_render_methods)
{
	for (size_t i = 0; i < sizeof(phrase_table) / sizeof(phrase_table[0]);
	     i++) {
		const struct phrases *ph = &phrase_table[i];
		struct prompt_params pp = params(ph->m, ph->asked, 20);
		struct chat c;
		const char *sys;

		render(&pp, "Write a haiku about rain.", ph->asked, &c);
		ck_assert_uint_eq(c.n, 2);
		ck_assert_int_eq(c.msgs[0].role, ROLE_SYSTEM);
		ck_assert_int_eq(c.msgs[1].role, ROLE_USER);
		ck_assert_str_eq(
		    c.msgs[1].content, "Write a haiku about rain.");
		sys = c.msgs[0].content;
		for (size_t w = 0; w < 6 && ph->want[w] != NULL; w++)
			ck_assert_msg(contains(sys, ph->want[w]),
			    "%s: missing \"%s\" in: %s", method_name(ph->m),
			    ph->want[w], sys);
		for (size_t r = 0; r < 4 && ph->reject[r] != NULL; r++)
			ck_assert_msg(!contains(sys, ph->reject[r]),
			    "%s: unexpected \"%s\" in: %s", method_name(ph->m),
			    ph->reject[r], sys);
		ck_assert(!contains(sys, "below"));
		chat_free(&c);
	}
}
END_TEST

START_TEST(test_render_vs_cot_order)
{
	struct prompt_params pp = params(METHOD_VS_COT, 5, 5);
	struct chat c;
	const char *sys, *r, *l;

	render(&pp, "Name a colour.", 5, &c);
	sys = c.msgs[0].content;
	/* Reasoning is asked for before the list, and shown first. */
	r = strstr(sys, "{\"reasoning\"");
	l = strstr(sys, "\"responses\": [");
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(l);
	ck_assert(r < l);
	ck_assert(strstr(sys, "step by step") < strstr(sys, "write 5"));
	chat_free(&c);
}
END_TEST

/* ssot: the seed is asked for, and shown, before the response that is
 * to come from it. */
START_TEST(test_render_ssot_order)
{
	struct prompt_params pp = params(METHOD_SSOT, 5, 5);
	struct chat c;
	const char *sys, *fmt;

	render(&pp, "Flip a coin.", 1, &c);
	sys = c.msgs[0].content;
	ck_assert(strstr(sys, "random string") < strstr(sys, "response\""));
	fmt = strstr(sys, "{\"seed\"");
	ck_assert_ptr_nonnull(fmt);
	ck_assert_ptr_nonnull(strstr(fmt, ", \"response\": "));
	chat_free(&c);
}
END_TEST

/* The system message of each method, against tests/data/prompt/. */
START_TEST(test_render_golden)
{
	for (int m = 0; m < METHOD_COUNT; m++) {
		struct prompt_params pp = params((enum method)m, 5, 10);
		struct chat c;
		char path[512], want[8192];
		size_t got;
		FILE *fp;

		render(&pp, "Tell me a story.", 5, &c);
		snprintf(path, sizeof(path), "%s/tests/data/prompt/%s.txt",
		    SRCDIR, method_name((enum method)m));
		if (getenv("VSAMPD_UPDATE_GOLDEN") != NULL) {
			fp = fopen(path, "w");
			ck_assert_ptr_nonnull(fp);
			fputs(c.msgs[0].content, fp);
			fclose(fp);
		}
		fp = fopen(path, "r");
		ck_assert_msg(fp != NULL, "cannot open %s", path);
		got = fread(want, 1, sizeof(want) - 1, fp);
		fclose(fp);
		want[got] = '\0';
		ck_assert_str_eq(c.msgs[0].content, want);
		chat_free(&c);
	}
}
END_TEST

START_TEST(test_render_tail)
{
	static const enum method all[] = {METHOD_DIRECT, METHOD_SEQUENCE,
	    METHOD_VS_STANDARD, METHOD_VS_COT, METHOD_VS_MULTI, METHOD_SSOT};
	static const char sentence[] =
	    "\n\nSample from the tails of the distribution: every response "
	    "you give must have a probability below ";

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct prompt_params pp = params(all[i], 5, 5);
		struct chat c;
		char want[256];
		size_t wl, sl;

		pp.tail = 0.1;
		render(&pp, "task", 5, &c);
		snprintf(want, sizeof(want), "%s0.1.", sentence);
		/* Without instructions the tail request ends the message. */
		wl = strlen(want);
		sl = strlen(c.msgs[0].content);
		ck_assert_uint_ge(sl, wl);
		ck_assert_str_eq(c.msgs[0].content + sl - wl, want);
		chat_free(&c);

		pp.tail = 0.05;
		render(&pp, "task", 5, &c);
		ck_assert(contains(c.msgs[0].content, "below 0.05."));
		ck_assert(!contains(c.msgs[0].content, "0.050000"));
		chat_free(&c);

		pp.tail = 1;
		render(&pp, "task", 5, &c);
		ck_assert(contains(c.msgs[0].content, "below 1."));
		chat_free(&c);

		pp.tail = NAN;
		render(&pp, "task", 5, &c);
		ck_assert(!contains(c.msgs[0].content, "tails"));
		ck_assert(!contains(c.msgs[0].content, "below"));
		chat_free(&c);
	}
}
END_TEST

START_TEST(test_render_instructions)
{
	struct prompt_params pp = params(METHOD_VS_STANDARD, 5, 5);
	struct chat c, plain;
	const char *ins = "Keep each response under 50 words.";
	size_t pl;

	render(&pp, "task", 5, &plain);
	pp.instructions = ins;
	render(&pp, "task", 5, &c);
	/* Ours first, unchanged, then the job's instructions. */
	pl = strlen(plain.msgs[0].content);
	ck_assert_int_eq(
	    strncmp(c.msgs[0].content, plain.msgs[0].content, pl), 0);
	ck_assert_str_eq(
	    c.msgs[0].content + pl, "\n\nKeep each response under 50 words.");
	ck_assert_uint_eq(c.n, 2);
	chat_free(&c);

	/* With a tail: instruction, tail, then the job's instructions. */
	pp.tail = 0.2;
	render(&pp, "task", 5, &c);
	ck_assert(strstr(c.msgs[0].content, "below 0.2.") <
	    strstr(c.msgs[0].content, ins));
	ck_assert_int_eq(
	    strncmp(c.msgs[0].content, plain.msgs[0].content, pl), 0);
	chat_free(&c);

	/* An empty string adds nothing. */
	pp.tail = NAN;
	pp.instructions = "";
	render(&pp, "task", 5, &c);
	ck_assert_str_eq(c.msgs[0].content, plain.msgs[0].content);
	chat_free(&c);
	chat_free(&plain);
}
END_TEST

START_TEST(test_render_dialogue)
{
	struct job_message msgs[] = {
	    {ROLE_SYSTEM, "You are Ann, a baker."},
	    {ROLE_USER, "Hi there."},
	    {ROLE_ASSISTANT, "Hello! Fresh bread today."},
	    {ROLE_SYSTEM, "Stay in character."},
	    {ROLE_USER, "What do you recommend?"},
	};
	struct prompt_params pp = params(METHOD_VS_STANDARD, 5, 5);
	struct job j;
	struct chat c, plain;
	char err[128];
	const char *tail;

	render(&pp, "x", 5, &plain);
	job_blank(&j);
	j.messages = msgs;
	j.nmessages = sizeof(msgs) / sizeof(msgs[0]);
	pp.instructions = "Answer in one sentence.";
	chat_init(&c);
	ck_assert_int_eq(prompt_build(&pp, &j, 5, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_int_eq(c.msgs[0].role, ROLE_SYSTEM);
	ck_assert_int_eq(strncmp(c.msgs[0].content, plain.msgs[0].content,
			     strlen(plain.msgs[0].content)),
	    0);
	tail = c.msgs[0].content + strlen(plain.msgs[0].content);
	ck_assert_str_eq(tail,
	    "\n\nAnswer in one sentence."
	    "\n\nYou are Ann, a baker."
	    "\n\nStay in character.");
	ck_assert_int_eq(c.msgs[1].role, ROLE_USER);
	ck_assert_str_eq(c.msgs[1].content, "Hi there.");
	ck_assert_int_eq(c.msgs[2].role, ROLE_ASSISTANT);
	ck_assert_str_eq(c.msgs[2].content, "Hello! Fresh bread today.");
	ck_assert_int_eq(c.msgs[3].role, ROLE_USER);
	ck_assert_str_eq(c.msgs[3].content, "What do you recommend?");
	chat_free(&c);
	chat_free(&plain);
}
END_TEST

START_TEST(test_render_prompt_and_messages)
{
	struct job_message msgs[] = {
	    {ROLE_USER, "Hi."},
	    {ROLE_ASSISTANT, "Hello."},
	};
	struct job_message merged[] = {
	    {ROLE_USER, "Hi."},
	    {ROLE_ASSISTANT, "Hello."},
	    {ROLE_USER, "And now?"},
	};
	struct prompt_params pp = params(METHOD_DIRECT, 1, 1);
	struct job j;
	struct chat c;
	char err[128];

	/* The prompt becomes the last user turn. */
	job_blank(&j);
	j.messages = msgs;
	j.nmessages = 2;
	j.prompt = "And now?";
	chat_init(&c);
	ck_assert_int_eq(prompt_build(&pp, &j, 1, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_int_eq(c.msgs[3].role, ROLE_USER);
	ck_assert_str_eq(c.msgs[3].content, "And now?");
	chat_free(&c);

	/* Already merged by the decoder: not repeated. */
	j.messages = merged;
	j.nmessages = 3;
	chat_init(&c);
	ck_assert_int_eq(prompt_build(&pp, &j, 1, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_str_eq(c.msgs[3].content, "And now?");
	chat_free(&c);

	/* messages present but empty: the prompt alone. */
	j.nmessages = 0;
	chat_init(&c);
	ck_assert_int_eq(prompt_build(&pp, &j, 1, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.msgs[1].content, "And now?");
	chat_free(&c);
}
END_TEST

START_TEST(test_render_missing_task)
{
	struct prompt_params pp = params(METHOD_VS_STANDARD, 5, 5);
	struct job j;
	struct chat c;
	char err[128];

	job_blank(&j);
	chat_init(&c);
	snprintf(err, sizeof(err), "unchanged");
	ck_assert_int_eq(prompt_build(&pp, &j, 5, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "job has neither prompt nor messages");
	ck_assert_uint_eq(c.n, 0);

	j.messages = (struct job_message *)&j; /* non-NULL, but empty */
	j.nmessages = 0;
	ck_assert_int_eq(prompt_build(&pp, &j, 5, &c, err, sizeof(err)), -1);
	ck_assert_uint_eq(c.n, 0);
	chat_free(&c);
}
END_TEST

START_TEST(test_render_unicode_prompt)
{
	struct prompt_params pp = params(METHOD_DIRECT, 1, 1);
	struct chat c;
	const char *task = "Écris un poème.\n\n  Deux strophes — 日本 🎉\t";

	render(&pp, task, 1, &c);
	ck_assert_str_eq(c.msgs[1].content, task);
	chat_free(&c);
}
END_TEST

/* ---- next turn ------------------------------------------------------- */

START_TEST(test_next_turn_multi_turn)
{
	struct prompt_params pp = params(METHOD_MULTI_TURN, 5, 3);
	struct chat c;
	/* Leading/trailing space, newlines, tabs; len stops before "XYZ". */
	const char reply[] =
	    "  A poem:\n\n\tline one  \r\nline two \xe2\x80\x94\n XYZ";
	size_t len = sizeof(reply) - 1 - 3;

	render(&pp, "Tell a joke.", 1, &c);
	prompt_next_turn(&pp, &c, reply, len, 1);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_int_eq(c.msgs[2].role, ROLE_ASSISTANT);
	ck_assert_uint_eq(strlen(c.msgs[2].content), len);
	ck_assert_int_eq(memcmp(c.msgs[2].content, reply, len), 0);
	ck_assert_int_eq(c.msgs[3].role, ROLE_USER);
	ck_assert(contains(c.msgs[3].content, "another response"));
	ck_assert(contains(c.msgs[3].content, "different"));
	ck_assert(!contains(c.msgs[3].content, "probability"));

	/* A third turn keeps the history in order. */
	prompt_next_turn(&pp, &c, "second", 6, 1);
	ck_assert_uint_eq(c.n, 6);
	ck_assert_str_eq(c.msgs[4].content, "second");
	ck_assert_int_eq(c.msgs[5].role, ROLE_USER);
	ck_assert_str_eq(c.msgs[1].content, "Tell a joke.");
	chat_free(&c);
}
END_TEST

START_TEST(test_next_turn_vs_multi)
{
	struct prompt_params pp = params(METHOD_VS_MULTI, 5, 8);
	struct chat c;
	const char reply[] =
	    "```json\n{\"responses\": [{\"text\": \"a\", \"probability\": "
	    "0.4}]}\n```";
	const char *u;

	render(&pp, "Name a fruit.", prompt_asked(&pp, 0), &c);
	ck_assert(contains(c.msgs[0].content, "Write 5 responses"));
	prompt_next_turn(
	    &pp, &c, reply, sizeof(reply) - 1, prompt_asked(&pp, 1));
	ck_assert_uint_eq(c.n, 4);
	ck_assert_int_eq(c.msgs[2].role, ROLE_ASSISTANT);
	ck_assert_str_eq(c.msgs[2].content, reply);
	u = c.msgs[3].content;
	ck_assert_int_eq(c.msgs[3].role, ROLE_USER);
	ck_assert(contains(u, "3 more responses"));
	ck_assert(contains(u, "different from every response"));
	ck_assert(contains(u, "probability"));
	ck_assert(contains(u, "{\"responses\": [{\"text\": "));
	ck_assert(contains(u, "\"probability\": "));
	ck_assert(contains(u, "must hold 3 items"));
	chat_free(&c);

	render(&pp, "Name a fruit.", 5, &c);
	prompt_next_turn(&pp, &c, "", 0, 1);
	ck_assert_str_eq(c.msgs[2].content, "");
	ck_assert(contains(c.msgs[3].content, "1 more response to"));
	ck_assert(contains(c.msgs[3].content, "must hold 1 item."));
	chat_free(&c);
}
END_TEST

/* ---- schemas --------------------------------------------------------- */

/* Round-trip through text, then check the strict-object shape. */
static json_t *
schema_reload(enum method m, int asked)
{
	json_t *s, *r;
	json_error_t jerr;
	char *txt;

	s = prompt_schema(m, asked);
	ck_assert_ptr_nonnull(s);
	txt = json_dumps(s, JSON_COMPACT);
	ck_assert_ptr_nonnull(txt);
	r = json_loads(txt, 0, &jerr);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_equal(s, r));
	free(txt);
	json_decref(s);
	return r;
}

static void
check_strict(json_t *o, const char *const *keys, size_t nkeys)
{
	json_t *req, *props;

	ck_assert_str_eq(
	    json_string_value(json_object_get(o, "type")), "object");
	ck_assert(json_is_false(json_object_get(o, "additionalProperties")));
	props = json_object_get(o, "properties");
	ck_assert(json_is_object(props));
	ck_assert_uint_eq(json_object_size(props), nkeys);
	req = json_object_get(o, "required");
	ck_assert(json_is_array(req));
	ck_assert_uint_eq(json_array_size(req), nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		ck_assert_str_eq(
		    json_string_value(json_array_get(req, i)), keys[i]);
		ck_assert_ptr_nonnull(json_object_get(props, keys[i]));
	}
}

static void
check_string_prop(json_t *o, const char *key)
{
	json_t *p = json_object_get(json_object_get(o, "properties"), key);

	ck_assert_str_eq(
	    json_string_value(json_object_get(p, "type")), "string");
}

/* Each method's template has an id of its own, "method:" and 12 hex
 * digits, the same every time it is asked for. */
START_TEST(test_template_ids)
{
	const char *ids[METHOD_COUNT];

	for (int m = 0; m < METHOD_COUNT; m++) {
		const char *id = prompt_template_id((enum method)m);
		const char *name = method_name((enum method)m);
		size_t nl = strlen(name);

		ck_assert_ptr_nonnull(id);
		ck_assert_uint_eq(strlen(id), nl + 1 + 12);
		ck_assert_mem_eq(id, name, nl);
		ck_assert_int_eq(id[nl], ':');
		ck_assert_uint_eq(strspn(id + nl + 1, "0123456789abcdef"), 12);
		ck_assert_ptr_eq(prompt_template_id((enum method)m), id);
		for (int o = 0; o < m; o++)
			ck_assert_str_ne(id + nl, strchr(ids[o], ':'));
		ids[m] = id;
	}
	ck_assert_ptr_null(prompt_template_id(METHOD_COUNT));
	ck_assert_ptr_null(prompt_template_id((enum method) - 1));
}
END_TEST

START_TEST(test_schema_single)
{
	static const char *const one[] = {"response"};
	static const char *const cot[] = {"reasoning", "response"};
	static const char *const seed[] = {"seed", "response"};
	json_t *s;

	s = schema_reload(METHOD_DIRECT, 1);
	check_strict(s, one, 1);
	check_string_prop(s, "response");
	json_decref(s);

	s = schema_reload(METHOD_MULTI_TURN, 1);
	check_strict(s, one, 1);
	json_decref(s);

	s = schema_reload(METHOD_DIRECT_COT, 1);
	check_strict(s, cot, 2);
	check_string_prop(s, "reasoning");
	check_string_prop(s, "response");
	json_decref(s);

	/* ssot: the seed first, in the properties as in required, since a
	 * constrained decoder writes them in that order. */
	s = schema_reload(METHOD_SSOT, 1);
	check_strict(s, seed, 2);
	check_string_prop(s, "seed");
	check_string_prop(s, "response");
	ck_assert_str_eq(
	    json_object_iter_key(json_object_iter(
		json_object_get(s, "properties"))),
	    "seed");
	json_decref(s);

	ck_assert_ptr_null(prompt_schema(METHOD_COUNT, 1));
}
END_TEST

static json_t *
responses_array(json_t *s)
{
	json_t *a;

	a = json_object_get(json_object_get(s, "properties"), "responses");
	ck_assert_str_eq(
	    json_string_value(json_object_get(a, "type")), "array");
	ck_assert_int_eq(json_integer_value(json_object_get(a, "minItems")),
	    json_integer_value(json_object_get(a, "maxItems")));
	return a;
}

START_TEST(test_schema_lists)
{
	static const char *const top[] = {"responses"};
	static const char *const top_cot[] = {"reasoning", "responses"};
	static const char *const text[] = {"text"};
	static const char *const tp[] = {"text", "probability"};
	static const enum method vs[] = {
	    METHOD_VS_STANDARD, METHOD_VS_MULTI, METHOD_VS_COT};
	json_t *s, *a, *item, *prob;

	s = schema_reload(METHOD_SEQUENCE, 4);
	check_strict(s, top, 1);
	a = responses_array(s);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "maxItems")), 4);
	item = json_object_get(a, "items");
	check_strict(item, text, 1);
	check_string_prop(item, "text");
	json_decref(s);

	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		s = schema_reload(vs[i], 7);
		if (vs[i] == METHOD_VS_COT) {
			check_strict(s, top_cot, 2);
			check_string_prop(s, "reasoning");
		} else
			check_strict(s, top, 1);
		a = responses_array(s);
		ck_assert_int_eq(
		    json_integer_value(json_object_get(a, "maxItems")), 7);
		item = json_object_get(a, "items");
		check_strict(item, tp, 2);
		check_string_prop(item, "text");
		prob = json_object_get(
		    json_object_get(item, "properties"), "probability");
		ck_assert_str_eq(
		    json_string_value(json_object_get(prob, "type")), "number");
		ck_assert(json_is_number(json_object_get(prob, "minimum")));
		ck_assert(
		    json_number_value(json_object_get(prob, "minimum")) == 0);
		ck_assert(
		    json_number_value(json_object_get(prob, "maximum")) == 1);
		json_decref(s);
	}

	/* The last call of a job may ask for fewer. */
	s = schema_reload(METHOD_VS_STANDARD, 2);
	a = responses_array(s);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "maxItems")), 2);
	json_decref(s);
}
END_TEST

static Suite *
prompt_suite(void)
{
	Suite *s = suite_create("prompt");
	TCase *tc;

	tc = tcase_create("plan");
	tcase_add_test(tc, test_plan_list_methods);
	tcase_add_test(tc, test_plan_single_methods);
	tcase_add_test(tc, test_plan_choices);
	tcase_add_test(tc, test_plan_kinds);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_add_test(tc, test_render_methods);
	tcase_add_test(tc, test_render_vs_cot_order);
	tcase_add_test(tc, test_render_ssot_order);
	tcase_add_test(tc, test_render_golden);
	tcase_add_test(tc, test_render_tail);
	tcase_add_test(tc, test_render_instructions);
	tcase_add_test(tc, test_render_dialogue);
	tcase_add_test(tc, test_render_prompt_and_messages);
	tcase_add_test(tc, test_render_missing_task);
	tcase_add_test(tc, test_render_unicode_prompt);
	suite_add_tcase(s, tc);

	tc = tcase_create("next_turn");
	tcase_add_test(tc, test_next_turn_multi_turn);
	tcase_add_test(tc, test_next_turn_vs_multi);
	suite_add_tcase(s, tc);

	tc = tcase_create("schema");
	tcase_add_test(tc, test_template_ids);
	tcase_add_test(tc, test_schema_single);
	tcase_add_test(tc, test_schema_lists);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(prompt_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
