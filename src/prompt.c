/*
 * prompt: the call plan of each method and the messages sent to the model
 * (docs/methods.md).
 *
 * The instruction for the method goes in the system message and the task
 * in the last user message; a dialogue job's own turns sit in between.
 * The wording is ours. It names the exact JSON keys that reply.c looks
 * for, so that the two stay in step, and it matches the schemas below,
 * which a backend with structured output enforces.
 *
 * Tail sampling (`tail`) is a request in the prompt, unlike
 * min_probability, which the pipeline applies to parsed candidates.
 *
 * A leaf module: no I/O. It builds messages; the backend turns them
 * into its dialect.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "method.h"
#include "prompt.h"
#include "xmalloc.h"

/* What every list method shows the model as its output format. */
#define FMT_LIST_PROB                                  \
	"{\"responses\": [{\"text\": \"<response>\", " \
	"\"probability\": <probability>}, ...]}"
#define FMT_COT_LIST_PROB                                               \
	"{\"reasoning\": \"<your reasoning>\", \"responses\": "         \
	"[{\"text\": \"<response>\", \"probability\": <probability>}, " \
	"...]}"
#define FMT_LIST "{\"responses\": [{\"text\": \"<response>\"}, ...]}"
#define FMT_COT_SINGLE                                         \
	"{\"reasoning\": \"<your reasoning>\", \"response\": " \
	"\"<your response>\"}"
#define FMT_SEED_SINGLE                                        \
	"{\"seed\": \"<your random string>\", \"response\": " \
	"\"<your response>\"}"

/* 1 for the methods whose every call asks for a list of k candidates. */
static int
plan_is_list(enum method m)
{
	return m == METHOD_SEQUENCE || m == METHOD_VS_STANDARD ||
	    m == METHOD_VS_COT || m == METHOD_VS_MULTI;
}

/* Candidates asked per call of a list method (a nonsensical k is taken
 * as 1 rather than divided by). */
static int
plan_k(const struct prompt_params *pp)
{
	return pp->k < 1 ? 1 : pp->k;
}

/* The most choices one call of pp asks for: chunk, for a method that
 * can use it, else 1. */
static int
plan_chunk(const struct prompt_params *pp)
{
	if (!prompt_has_choices(pp->method) || pp->chunk < 1)
		return 1;
	return pp->chunk;
}

/*
 * Number of calls (or turns) a job makes: n for the one-candidate methods
 * (ceil(n/chunk) when their calls ask for several choices), ceil(n/k) for
 * the list methods; 0 when n < 1.
 */
int
prompt_ncalls(const struct prompt_params *pp)
{
	int per = plan_is_list(pp->method) ? plan_k(pp) : plan_chunk(pp);

	if (pp->n < 1)
		return 0;
	return pp->n / per + (pp->n % per != 0);
}

/* 1 when the calls of method m are turns of one conversation, else 0. */
int
prompt_is_conversation(enum method m)
{
	return m == METHOD_MULTI_TURN || m == METHOD_VS_MULTI;
}

/* Call i's share of n when each call takes per: per, or what is left of
 * n for the last; 0 when i is outside the plan. */
static int
plan_share(const struct prompt_params *pp, int i, int per)
{
	int left;

	if (i < 0 || i >= prompt_ncalls(pp))
		return 0;
	left = pp->n - i * per;
	return left < per ? left : per;
}

/*
 * Candidates asked for in call i: min(k, n - i*k) for the list methods,
 * 1 for the others; 0 when i is outside the plan.
 */
int
prompt_asked(const struct prompt_params *pp, int i)
{
	return plan_share(pp, i, plan_is_list(pp->method) ? plan_k(pp) : 1);
}

/* 1 when a call of method m may ask for several choices (n). */
int
prompt_has_choices(enum method m)
{
	return m == METHOD_DIRECT || m == METHOD_DIRECT_COT ||
	    m == METHOD_SSOT;
}

/*
 * Choices asked for in call i: min(chunk, n - i*chunk) for direct,
 * direct_cot and ssot, 1 for the others; 0 when i is outside the plan.
 */
int
prompt_choices(const struct prompt_params *pp, int i)
{
	return plan_share(pp, i, plan_chunk(pp));
}

/* How reply.c is to read a reply of method m. */
enum reply_kind
prompt_reply_kind(enum method m)
{
	switch (m) {
	case METHOD_DIRECT_COT:
		return REPLY_COT_SINGLE;
	case METHOD_SSOT:
		return REPLY_SEED_SINGLE;
	case METHOD_SEQUENCE:
		return REPLY_LIST;
	case METHOD_VS_STANDARD:
	case METHOD_VS_COT:
	case METHOD_VS_MULTI:
		return REPLY_LIST_PROB;
	default:
		return REPLY_SINGLE;
	}
}

/* "1 response" or "5 responses". */
static void
put_responses(struct buf *b, int n)
{
	buf_printf(b, "%d response%s", n, n == 1 ? "" : "s");
}

/* The paragraph that defines a verbalized probability. */
static void
put_probability(struct buf *b)
{
	buf_puts(b,
	    "Give each response a probability: your estimate of how likely "
	    "you are to produce that response, measured against the full "
	    "distribution of all the responses you could give to this "
	    "message. The probabilities are relative to that whole "
	    "distribution, so those of the responses you list need not sum "
	    "to 1. Write each probability as a number between 0 and 1.");
}

/* The closing format request. */
static void
put_format(struct buf *b, const char *fmt)
{
	buf_puts(b,
	    "\n\nReply with one JSON object and nothing else, in exactly "
	    "this format:\n");
	buf_puts(b, fmt);
}

/* Our instruction for the method, asking for `asked` responses. */
static void
put_instruction(struct buf *b, enum method m, int asked)
{
	switch (m) {
	case METHOD_DIRECT_COT:
		buf_puts(b,
		    "Respond to the last user message. First reason step "
		    "by step about how to respond, then give your "
		    "response.");
		put_format(b, FMT_COT_SINGLE);
		break;
	case METHOD_SSOT:
		/* String Seed of Thought (docs/methods.md): the string is
		 * written first so that the choice made from it comes
		 * after it, not the other way round. */
		buf_puts(b,
		    "Respond to the last user message, letting a random "
		    "string make your choices. First write the string as "
		    "\"seed\": 16 to 32 letters and digits, each picked "
		    "as if by chance, with no words or patterns in it. Then "
		    "think of the different responses the message allows "
		    "and let the seed pick one: turn its characters into a "
		    "number (for example by adding up the alphabet "
		    "positions of its letters and the values of its "
		    "digits) and use that number to choose, or use "
		    "its characters to settle each choice open to you as "
		    "you write. Write the chosen response as \"response\", "
		    "without explaining how the seed chose it.");
		put_format(b, FMT_SEED_SINGLE);
		buf_puts(b, "\nWrite \"seed\" before \"response\".");
		break;
	case METHOD_SEQUENCE:
		buf_puts(b, "Write ");
		put_responses(b, asked);
		buf_printf(b,
		    " to the last user message%s. Do not give "
		    "probabilities or any other scores.",
		    asked == 1 ? "" : ", each different from the others");
		put_format(b, FMT_LIST);
		buf_printf(b, "\nThe \"responses\" list must hold %d item%s.",
		    asked, asked == 1 ? "" : "s");
		break;
	case METHOD_VS_STANDARD:
	case METHOD_VS_MULTI:
		buf_puts(b, "Write ");
		put_responses(b, asked);
		buf_printf(b, " to the last user message%s. ",
		    asked == 1 ? "" : ", each different from the others");
		put_probability(b);
		put_format(b, FMT_LIST_PROB);
		buf_printf(b, "\nThe \"responses\" list must hold %d item%s.",
		    asked, asked == 1 ? "" : "s");
		break;
	case METHOD_VS_COT:
		buf_puts(b,
		    "Respond to the last user message. First reason step "
		    "by step about the message and about the range of "
		    "responses it allows. Then write ");
		put_responses(b, asked);
		buf_printf(b, "%s. ",
		    asked == 1 ? "" : ", each different from the others");
		put_probability(b);
		put_format(b, FMT_COT_LIST_PROB);
		buf_printf(b,
		    "\nWrite \"reasoning\" before \"responses\". The "
		    "\"responses\" list must hold %d item%s.",
		    asked, asked == 1 ? "" : "s");
		break;
	default:
		/* direct, multi_turn: the plain reply is the candidate. */
		buf_puts(b,
		    "Respond to the last user message. Reply with your "
		    "response only.");
		break;
	}
}

/* The tail request. */
static void
put_tail(struct buf *b, double tail)
{
	/* %g: 0.1 reads as 0.1, not 0.100000. */
	buf_printf(b,
	    "\n\nSample from the tails of the distribution: every "
	    "response you give must have a probability below %g.",
	    tail);
}

/*
 * Build the first request of a job into out: our system message (with the
 * tail request, the job's instructions and the job's own system messages
 * after it), the job's other turns in order, and the task last. A prompt
 * given beside messages is appended as the last user turn unless the
 * messages already end with it (the decoder may have merged it). Returns 0,
 * or -1 with errstr when the job has neither prompt nor messages.
 */
int
prompt_build(const struct prompt_params *pp, const struct job *job, int asked,
    struct chat *out, char *errstr, size_t errlen)
{
	struct buf sys;
	const struct job_message *last = NULL;
	int has_msgs;

	has_msgs = job->messages != NULL && job->nmessages > 0;
	if (job->prompt == NULL && !has_msgs) {
		snprintf(errstr, errlen, "job has neither prompt nor messages");
		return -1;
	}
	if (asked < 1)
		asked = 1;

	buf_init(&sys);
	put_instruction(&sys, pp->method, asked);
	if (!isnan(pp->tail))
		put_tail(&sys, pp->tail);
	if (pp->instructions != NULL && pp->instructions[0] != '\0') {
		buf_puts(&sys, "\n\n");
		buf_puts(&sys, pp->instructions);
	}
	for (size_t i = 0; has_msgs && i < job->nmessages; i++) {
		if (job->messages[i].role != ROLE_SYSTEM)
			continue;
		buf_puts(&sys, "\n\n");
		buf_puts(&sys, job->messages[i].content);
	}
	chat_add(out, ROLE_SYSTEM, sys.data, sys.len);
	buf_free(&sys);

	for (size_t i = 0; has_msgs && i < job->nmessages; i++) {
		const struct job_message *jm = &job->messages[i];

		if (jm->role == ROLE_SYSTEM)
			continue;
		chat_add(out, jm->role, jm->content, strlen(jm->content));
		last = jm;
	}
	if (job->prompt != NULL &&
	    (last == NULL || last->role != ROLE_USER ||
		strcmp(last->content, job->prompt) != 0))
		chat_add(out, ROLE_USER, job->prompt, strlen(job->prompt));
	return 0;
}

/*
 * Append the assistant's raw reply (len bytes, verbatim) and our follow-up
 * user message for the next turn of a multi_turn or vs_multi job.
 */
void
prompt_next_turn(const struct prompt_params *pp, struct chat *c,
    const char *reply, size_t len, int asked)
{
	struct buf b;

	if (asked < 1)
		asked = 1;
	chat_add(c, ROLE_ASSISTANT, reply, len);
	buf_init(&b);
	if (pp->method == METHOD_VS_MULTI) {
		buf_printf(&b,
		    "Now write %d more response%s to the same message, "
		    "each different from every response you have given so "
		    "far",
		    asked, asked == 1 ? "" : "s");
		if (asked > 1)
			buf_puts(&b, " and from each other");
		buf_puts(&b,
		    ". Give each a probability relative to the full "
		    "distribution of responses, as before.");
		put_format(&b, FMT_LIST_PROB);
		buf_printf(&b, "\nThe \"responses\" list must hold %d item%s.",
		    asked, asked == 1 ? "" : "s");
	} else {
		buf_puts(&b,
		    "Give another response to the same message, different "
		    "from every response you have given so far. Reply with "
		    "your response only.");
	}
	chat_add(c, ROLE_USER, b.data, b.len);
	buf_free(&b);
}

/* {"type":"string"} */
static json_t *
schema_string(void)
{
	return json_pack("{s:s}", "type", "string");
}

/* A strict object schema: every property required, no others allowed.
 * Takes ownership of props; keys lists the property names in order. */
static json_t *
schema_object(json_t *props, const char *const *keys, size_t nkeys)
{
	json_t *req = json_array();

	for (size_t i = 0; i < nkeys; i++)
		json_array_append_new(req, json_string(keys[i]));
	return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties",
	    props, "required", req, "additionalProperties", 0);
}

/* {"responses": [items]} with exactly `asked` items: the prompt asks for
 * that many, and a constrained decoder (llama.cpp's grammar, vLLM's
 * guided decoding) otherwise lets a small model stop after one. */
static json_t *
schema_responses(int with_prob, int with_reasoning, int asked)
{
	static const char *const item_keys[] = {"text", "probability"};
	static const char *const top_keys[] = {"reasoning", "responses"};
	json_t *iprops, *item, *arr, *props;

	iprops = json_object();
	json_object_set_new(iprops, "text", schema_string());
	if (with_prob)
		json_object_set_new(iprops, "probability",
		    json_pack("{s:s, s:i, s:i}", "type", "number", "minimum", 0,
			"maximum", 1));
	item = schema_object(iprops, item_keys, with_prob ? 2 : 1);
	arr = json_pack("{s:s, s:o, s:i, s:i}", "type", "array", "items", item,
	    "minItems", asked < 1 ? 1 : asked, "maxItems",
	    asked < 1 ? 1 : asked);
	props = json_object();
	if (with_reasoning)
		json_object_set_new(props, "reasoning", schema_string());
	json_object_set_new(props, "responses", arr);
	if (with_reasoning)
		return schema_object(props, top_keys, 2);
	return schema_object(props, top_keys + 1, 1);
}

/*
 * The JSON schema of the expected reply of method m with `asked` items
 * (structured output). New reference, or NULL for an unknown method.
 */
json_t *
prompt_schema(enum method m, int asked)
{
	static const char *const single_keys[] = {"response"};
	static const char *const cot_keys[] = {"reasoning", "response"};
	static const char *const seed_keys[] = {"seed", "response"};
	json_t *props;

	switch (m) {
	case METHOD_DIRECT:
	case METHOD_MULTI_TURN:
		props = json_object();
		json_object_set_new(props, "response", schema_string());
		return schema_object(props, single_keys, 1);
	case METHOD_DIRECT_COT:
		props = json_object();
		json_object_set_new(props, "reasoning", schema_string());
		json_object_set_new(props, "response", schema_string());
		return schema_object(props, cot_keys, 2);
	case METHOD_SSOT:
		/* The seed first: a constrained decoder writes the
		 * properties in the order given. */
		props = json_object();
		json_object_set_new(props, "seed", schema_string());
		json_object_set_new(props, "response", schema_string());
		return schema_object(props, seed_keys, 2);
	case METHOD_SEQUENCE:
		return schema_responses(0, 0, asked);
	case METHOD_VS_STANDARD:
	case METHOD_VS_MULTI:
		return schema_responses(1, 0, asked);
	case METHOD_VS_COT:
		return schema_responses(1, 1, asked);
	default:
		return NULL;
	}
}

/* ---- the template's identity ---- */

#define TEMPLATE_ID_MAX 48

static char template_ids[METHOD_COUNT][TEMPLATE_ID_MAX];
static pthread_once_t template_once = PTHREAD_ONCE_INIT;

/*
 * Hash every piece of our wording a method's requests can carry, for one
 * and for three responses (the singular and the plural): the
 * instruction, the tail request, the follow-up turn (conversations
 * only) and the reply schema.
 */
static void
template_ids_make(void)
{
	for (int m = 0; m < METHOD_COUNT; m++) {
		struct prompt_params pp = {.method = (enum method)m,
		    .k = 3,
		    .n = 3,
		    .tail = 0.1};
		struct buf b;
		struct chat c;
		uint64_t h = HASH_FNV_OFFSET;

		for (int asked = 1; asked <= 3; asked += 2) {
			json_t *schema;
			char *js;

			buf_init(&b);
			put_instruction(&b, pp.method, asked);
			put_tail(&b, pp.tail);
			h = hash_fnv1a(h, b.data, b.len);
			buf_free(&b);
			chat_init(&c);
			if (prompt_is_conversation(pp.method))
				prompt_next_turn(&pp, &c, "", 0, asked);
			for (size_t i = 0; i < c.n; i++)
				h = hash_fnv1a(h, c.msgs[i].content,
				    strlen(c.msgs[i].content));
			chat_free(&c);
			schema = prompt_schema(pp.method, asked);
			js = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS);
			if (js == NULL)
				fatalx("prompt: cannot encode a schema");
			h = hash_fnv1a(h, js, strlen(js));
			free(js);
			json_decref(schema);
		}
		snprintf(template_ids[m], sizeof(template_ids[m]),
		    "%s:%012" PRIx64, method_name(pp.method),
		    hash_mix64(h) >> 16);
	}
}

const char *
prompt_template_id(enum method m)
{
	if ((int)m < 0 || m >= METHOD_COUNT)
		return NULL;
	pthread_once(&template_once, template_ids_make);
	return template_ids[m];
}
