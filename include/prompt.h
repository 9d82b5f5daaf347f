/*
 * prompt: the call plan of each method and the messages sent to the model.
 *
 * Wording is ours (docs/methods.md): the task instruction goes in the
 * system message, the task itself in the user message; dialogue jobs bring
 * prior turns. Leaf module: no I/O.
 */
#ifndef VSAMPD_PROMPT_H
#define VSAMPD_PROMPT_H

#include <jansson.h>
#include <stddef.h>

#include "chat.h"
#include "job.h"

/* How a reply of a method is to be parsed. */
enum reply_kind {
	REPLY_SINGLE = 0, /* direct, multi_turn: the reply is the candidate */
	REPLY_COT_SINGLE, /* direct_cot: {reasoning, response} */
	REPLY_LIST, /* sequence: k responses, no probabilities */
	REPLY_LIST_PROB, /* vs_standard, vs_cot, vs_multi */
	REPLY_SEED_SINGLE /* ssot: {seed, response}, the seed no candidate */
};

/* What the prompt needs to know; resolved by the pipeline from job+config. */
struct prompt_params {
	enum method method;
	int k; /* candidates asked per call */
	int n; /* candidates wanted in all */
	double tail; /* NAN: no tail request */
	const char *instructions; /* NULL: none */
	int chunk; /* the most choices one request may ask for (n) on the
		    * job's backend; 0 or 1: one (docs/backends.md) */
};

/*
 * The plan: how many calls (or turns) a job makes, and whether they are
 * turns of one conversation (1) or independent calls (0).
 * direct, direct_cot, ssot: n calls, or ceil(n/chunk) of several choices
 * each when chunk > 1; multi_turn: n turns;
 * sequence, vs_standard, vs_cot: ceil(n/k) calls; vs_multi: ceil(n/k) turns.
 */
int prompt_ncalls(const struct prompt_params *pp);
int prompt_is_conversation(enum method m);
/* Candidates asked for in call/turn i (k, or what is left of n), in the
 * text of each of its choices. */
int prompt_asked(const struct prompt_params *pp, int i);
/* 1 when the calls of method m may ask for several choices (n) each:
 * direct, direct_cot and ssot, whose every reply is one candidate. */
int prompt_has_choices(enum method m);
/* Choices asked for in call i: chunk, or what is left of n, for a
 * method with choices; else 1. 0 when i is outside the plan. */
int prompt_choices(const struct prompt_params *pp, int i);
enum reply_kind prompt_reply_kind(enum method m);

/*
 * Build the first request of a job into out (initialised by the caller):
 * our system message (joined with any system messages of the job), the
 * job's prior turns, and the task as the last user turn. For independent
 * calls the same chat is used for every call. Returns 0, or -1 with errstr
 * when the job has neither prompt nor messages.
 */
int prompt_build(const struct prompt_params *pp, const struct job *job,
    int asked, struct chat *out, char *errstr, size_t errlen);

/*
 * Extend a conversation for the next turn (multi_turn, vs_multi): append
 * the assistant's raw reply verbatim, then our follow-up user message that
 * asks for another different response (or `asked` further alternatives).
 */
void prompt_next_turn(const struct prompt_params *pp, struct chat *c,
    const char *reply, size_t len, int asked);

/*
 * The JSON schema of the expected reply, for structured output
 * (response_format). New reference. direct and multi_turn get an object
 * with one "response" string; direct_cot {reasoning, response}; ssot
 * {seed, response}; sequence
 * {responses: [{text}]}; the vs methods {responses: [{text, probability}]}
 * with at most `asked` items, vs_cot with a "reasoning" string before
 * "responses" so that structured output keeps the reasoning step.
 */
json_t *prompt_schema(enum method m, int asked);

/*
 * The identity of method m's prompt template, "vs_standard:1a2b3c4d5e6f":
 * the method and 48 bits of a hash of all our wording its requests can
 * carry (instruction, tail request, follow-up turns, reply schema). It
 * changes when the wording does, and only then. NULL for an
 * out-of-range m. Thread-safe.
 */
const char *prompt_template_id(enum method m);

#endif
