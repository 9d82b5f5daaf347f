/*
 * reply: turning a model's reply text into candidates (docs/methods.md,
 * Replies).
 *
 * Models do not always answer in the form they were asked for, so the
 * parser is lenient about the wrapping and strict about the content:
 *
 *   - The reply is scanned once. Inside brackets (outside JSON strings) a
 *     repaired copy drops trailing commas and turns bare NaN/Infinity into
 *     null, and the scan records where each bracket opens and closes. Every
 *     balanced {...} or [...] is then a candidate JSON text, tried in the
 *     order of its opening bracket, so the whole reply, a code-fenced body
 *     and JSON buried in chatter are all the same case. The outermost
 *     bracket comes first; inner ones are only tried when it is not a
 *     reply.
 *   - The work is bounded: at most SPAN_MAX brackets are recorded and the
 *     bytes handed to jansson are capped at a small multiple of the input,
 *     so megabytes of nested brackets cost linear time. Nothing recurses
 *     on the input (jansson itself stops at 2048 levels).
 *   - When no JSON form holds a candidate, the XML-like form
 *     <response><text>..</text><probability>..</probability></response>
 *     is tried.
 *
 * Candidates keep their text exactly as JSON decoding gives it (poems keep
 * their newlines); only text from the XML form is trimmed, since the tags
 * are usually written on lines of their own. Blank texts are skipped, never
 * turned into empty candidates. Error text never quotes the reply.
 *
 * REPLY_SEED_SINGLE (ssot) is strict about the seed: the method is the
 * seed written before the response, so an object without a non-blank
 * "seed" string is no reply of it (its fault is named), while other keys
 * and the order of the two are not checked. The seed is dropped once
 * seen.
 *
 * REPLY_LIST (sequence) candidates always get a NAN verbalized value even
 * when the model volunteered numbers: the method asks for none, and its
 * selection is meant to be uniform.
 *
 * A leaf module: no I/O, and pure, so that the offload thread may run it.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "utf8.h"
#include "xmalloc.h"

#define SPAN_MAX 4096 /* brackets recorded per reply */
#define BUDGET_MIN (64 * 1024) /* bytes jansson may see, plus 4 * input */
#define NUM_MAX 64 /* longest probability string considered */

/* A bracket of the repaired copy: where it opens and (inclusive) closes. */
struct span {
	size_t start;
	size_t end; /* SIZE_MAX while (or if never) closed */
	size_t depth;
};

struct scan {
	char *buf; /* repaired copy of the input */
	size_t len;
	struct span *spans; /* in order of their opening bracket */
	size_t nspans;
};

/* Candidates being collected, with the cap of the call. */
struct collect {
	struct reply *out;
	size_t cap;
	size_t max; /* 0: no cap */
	int keep_prob;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

static int
is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static int
is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_space(s[i]))
			return 0;
	return 1;
}

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_space((*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_space((*s)[*len - 1]))
		(*len)--;
}

/* First occurrence of needle in s[0..len), or NULL. Needles are short tag
 * names, so this is linear in len. */
static const char *
find(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle);
	const char *p = s, *end = s + len;

	while ((size_t)(end - p) >= nl) {
		p = memchr(p, needle[0], (size_t)(end - p) - nl + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, nl) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* Length of a bare NaN/Infinity token (with its sign) at s[i], or 0. */
static size_t
nonfinite_token(const char *s, size_t len, size_t i)
{
	static const char *const words[] = {"NaN", "Infinity"};
	size_t j = i;

	if (i > 0 && is_ident(s[i - 1]))
		return 0;
	if (s[j] == '-' || s[j] == '+')
		j++;
	for (size_t w = 0; w < 2; w++) {
		size_t wl = strlen(words[w]);

		if (len - j >= wl && memcmp(s + j, words[w], wl) == 0 &&
		    (j + wl == len || !is_ident(s[j + wl])))
			return j + wl - i;
	}
	return 0;
}

/*
 * Length of a JSON number at s[i] that jansson cannot hold (an integer
 * beyond 64 bits, a real beyond a double: "1e999"), or 0. Such a literal
 * would fail the whole reply; as null, its candidate keeps its text and
 * its probability counts as missing. Every such literal is at least
 * five bytes long, so "null" never grows the copy.
 */
static size_t
overflow_token(const char *s, size_t len, size_t i)
{
	char tmp[NUM_MAX + 1];
	size_t j = i, digits = 0, tl;
	int real = 0;
	double v;

	if (i > 0 && (is_ident(s[i - 1]) || s[i - 1] == '.'))
		return 0;
	if (j < len && s[j] == '-')
		j++;
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++, digits++;
	if (digits == 0)
		return 0;
	if (j < len && s[j] == '.') {
		real = 1;
		for (j++; j < len && s[j] >= '0' && s[j] <= '9'; j++)
			;
	}
	if (j < len && (s[j] == 'e' || s[j] == 'E')) {
		real = 1;
		j++;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
	}
	if (j < len && (is_ident(s[j]) || s[j] == '.'))
		return 0;
	tl = j - i;
	if (!real)
		/* 19 digits may still fit; a longer one never does. */
		return digits > 19 ||
			(digits == 19 &&
			    memcmp(s + j - 19, "9223372036854775807", 19) > 0)
		    ? tl
		    : 0;
	if (tl > NUM_MAX)
		return tl; /* no probability is written this long */
	memcpy(tmp, s + i, tl);
	tmp[tl] = '\0';
	v = strtod(tmp, NULL);
	return isinf(v) ? tl : 0;
}

/*
 * One pass over s[0..len): build the repaired copy and record the
 * brackets. Quotes only start strings inside brackets, since prose
 * around the JSON has apostrophes and unpaired quotes of its own. A
 * closing bracket closes the innermost open one whatever its type: a
 * mismatch is invalid JSON that jansson rejects anyway.
 */
static void
scan_text(const char *s, size_t len, struct scan *sc)
{
	size_t *stack, nstack = 0, depth = 0, o = 0;
	int in_str = 0, esc = 0;

	/* "NaN" -> "null" is the only growth: at most 5 bytes for 4. */
	sc->buf = xmalloc(len + len / 3 + 4);
	sc->spans = xreallocarray(NULL, SPAN_MAX, sizeof(*sc->spans));
	sc->nspans = 0;
	stack = xreallocarray(NULL, SPAN_MAX, sizeof(*stack));

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		size_t tl;

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			sc->buf[o++] = c;
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			depth++;
			if (sc->nspans < SPAN_MAX) {
				sc->spans[sc->nspans].start = o;
				sc->spans[sc->nspans].end = SIZE_MAX;
				sc->spans[sc->nspans].depth = depth;
				stack[nstack++] = sc->nspans++;
			}
			break;
		case '}':
		case ']':
			if (depth == 0)
				break;
			if (nstack > 0 &&
			    sc->spans[stack[nstack - 1]].depth == depth)
				sc->spans[stack[--nstack]].end = o;
			depth--;
			break;
		case '"':
			if (depth > 0)
				in_str = 1;
			break;
		case ',':
			if (depth > 0) {
				size_t j = i + 1;

				while (j < len && is_space(s[j]))
					j++;
				if (j < len && (s[j] == '}' || s[j] == ']'))
					continue; /* trailing comma: drop */
			}
			break;
		case 'N':
		case 'I':
		case '-':
		case '+':
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			if (depth > 0 &&
			    ((tl = nonfinite_token(s, len, i)) > 0 ||
				(tl = overflow_token(s, len, i)) > 0)) {
				memcpy(sc->buf + o, "null", 4);
				o += 4;
				i += tl - 1;
				continue;
			}
			break;
		}
		sc->buf[o++] = c;
	}
	sc->len = o;
	free(stack);
}

static void
scan_free(struct scan *sc)
{
	free(sc->buf);
	free(sc->spans);
	memset(sc, 0, sizeof(*sc));
}

/*
 * A probability written as a string: "0.3", "70%", " 70 % ". Only plain
 * decimal notation is taken (strtod alone would also take "nan", "inf"
 * and hex). Returns NAN when it is none of these.
 */
static double
prob_from_string(const char *s, size_t len)
{
	char tmp[NUM_MAX + 1], *end;
	int pct = 0;
	double v;

	trim(&s, &len);
	if (len > 0 && s[len - 1] == '%') {
		pct = 1;
		len--;
		trim(&s, &len);
	}
	if (len == 0 || len > NUM_MAX)
		return NAN;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || c == '.' || c == '-' ||
			c == '+' || c == 'e' || c == 'E'))
			return NAN;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	v = strtod(tmp, &end);
	if (end != tmp + len || !isfinite(v))
		return NAN;
	return pct ? v / 100.0 : v;
}

static double
prob_from_json(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return (double)json_integer_value(v);
	if (json_is_real(v)) {
		d = json_real_value(v);
		return isfinite(d) ? d : NAN;
	}
	if (json_is_string(v))
		return prob_from_string(
		    json_string_value(v), json_string_length(v));
	return NAN;
}

static int
collect_full(const struct collect *c)
{
	return c->max > 0 && c->out->n >= c->max;
}

/* Add a copy of s[0..len) unless it is blank or the cap is reached. */
static void
collect_add(struct collect *c, const char *s, size_t len, double v)
{
	struct reply_item *it;

	if (collect_full(c) || is_blank(s, len))
		return;
	if (c->out->n == c->cap) {
		c->cap = c->cap == 0 ? 8 : c->cap * 2;
		c->out->items = xreallocarray(
		    c->out->items, c->cap, sizeof(*c->out->items));
	}
	it = &c->out->items[c->out->n++];
	it->text = xstrndup(s, len);
	it->len = len;
	it->verbalized = c->keep_prob && isfinite(v) ? v : NAN;
}

static void
set_reasoning(struct reply *out, const json_t *obj)
{
	const json_t *r = json_object_get(obj, "reasoning");

	if (json_is_string(r) && out->reasoning == NULL)
		out->reasoning =
		    xstrndup(json_string_value(r), json_string_length(r));
}

/* One element of a responses array: {"text"|"response", "probability"|
 * "confidence"} or a bare string. Anything else is skipped. */
static void
collect_json_item(struct collect *c, const json_t *item)
{
	const json_t *t, *p;

	if (json_is_string(item)) {
		collect_add(
		    c, json_string_value(item), json_string_length(item), NAN);
		return;
	}
	if (!json_is_object(item))
		return;
	t = json_object_get(item, "text");
	if (!json_is_string(t))
		t = json_object_get(item, "response");
	if (!json_is_string(t))
		return;
	p = json_object_get(item, "probability");
	if (p == NULL || json_is_null(p))
		p = json_object_get(item, "confidence");
	collect_add(
	    c, json_string_value(t), json_string_length(t), prob_from_json(p));
}

/*
 * Candidates of a list reply held in v: an object with a "responses"
 * array, or an array whose elements are all objects or strings. Returns 1
 * when v has one of these shapes (items appended, perhaps none), 0 when it
 * does not.
 */
static int
list_from_json(struct collect *c, const json_t *v)
{
	const json_t *arr, *el;
	size_t i;

	if (json_is_object(v)) {
		arr = json_object_get(v, "responses");
		if (!json_is_array(arr))
			return 0;
	} else if (json_is_array(v)) {
		arr = v;
		if (json_array_size(arr) == 0)
			return 0;
		json_array_foreach(arr, i, el)
		{
			if (!json_is_object(el) && !json_is_string(el))
				return 0;
		}
	} else
		return 0;
	json_array_foreach(arr, i, el)
	{
		if (collect_full(c))
			break;
		collect_json_item(c, el);
	}
	if (c->out->n > 0 && json_is_object(v))
		set_reasoning(c->out, v);
	return 1;
}

/* The candidate of a direct_cot reply held in v. Returns 1 when v is an
 * object with a "response" string (the candidate is added unless blank,
 * *fault set when it is), 0 otherwise. */
static int
cot_from_json(struct collect *c, const json_t *v, const char **fault)
{
	const json_t *r;

	if (!json_is_object(v))
		return 0;
	r = json_object_get(v, "response");
	if (!json_is_string(r))
		return 0;
	collect_add(c, json_string_value(r), json_string_length(r), NAN);
	if (c->out->n > 0)
		set_reasoning(c->out, v);
	else
		*fault = "empty response in reply";
	return 1;
}

/*
 * The candidate of an ssot reply held in v: the "response" string of an
 * object that also has a non-blank "seed" string. The seed is what the
 * method is about (the response is to be derived from it), so a reply
 * without one is no ssot reply, and the seed itself is never a
 * candidate. Returns 1 when v is such an object and the candidate was
 * added, 0 otherwise; *fault names what is wrong with an object that has
 * either key.
 */
static int
seed_from_json(struct collect *c, const json_t *v, const char **fault)
{
	const json_t *seed, *r;

	if (!json_is_object(v))
		return 0;
	seed = json_object_get(v, "seed");
	r = json_object_get(v, "response");
	if (seed == NULL && r == NULL)
		return 0;
	if (!json_is_string(r))
		*fault = r == NULL ? "no response beside the seed in reply"
				   : "response in reply is not a string";
	else if (!json_is_string(seed))
		*fault = seed == NULL ? "no seed beside the response in reply"
				      : "seed in reply is not a string";
	else if (is_blank(json_string_value(seed), json_string_length(seed)))
		*fault = "empty seed in reply";
	else if (is_blank(json_string_value(r), json_string_length(r)))
		*fault = "empty response in reply";
	else {
		collect_add(
		    c, json_string_value(r), json_string_length(r), NAN);
		return 1;
	}
	return 0;
}

/* The candidates of v read as a reply of kind; see the *_from_json
 * functions. */
static int
from_json(struct collect *c, enum reply_kind kind, const json_t *v,
    const char **fault)
{
	switch (kind) {
	case REPLY_COT_SINGLE:
		return cot_from_json(c, v, fault);
	case REPLY_SEED_SINGLE:
		return seed_from_json(c, v, fault);
	default:
		if (!list_from_json(c, v))
			return 0;
		if (c->out->n == 0)
			*fault = "no candidates in reply";
		return 1;
	}
}

/*
 * Try the balanced brackets of the reply in order until one yields a
 * candidate; only objects for the kinds of one response. *fault is set
 * to what was wrong with the first bracket that had the right keys but
 * no usable candidate (it stays NULL when none had). Returns 1 when
 * candidates were found.
 */
static int
json_scan(struct collect *c, const char *text, size_t len,
    enum reply_kind kind, const char **fault)
{
	struct scan sc;
	size_t budget = BUDGET_MIN + 4 * len;
	int found = 0, objects_only;

	objects_only = kind == REPLY_COT_SINGLE || kind == REPLY_SEED_SINGLE;
	scan_text(text, len, &sc);
	for (size_t i = 0; i < sc.nspans && !found; i++) {
		const struct span *sp = &sc.spans[i];
		const char *why = NULL;
		size_t sl;
		json_t *v;

		if (sp->end == SIZE_MAX)
			continue;
		if (objects_only && sc.buf[sp->start] != '{')
			continue;
		sl = sp->end - sp->start + 1;
		if (sl > budget)
			continue;
		budget -= sl;
		v = json_loadb(sc.buf + sp->start, sl, 0, NULL);
		if (v == NULL)
			continue;
		if (from_json(c, kind, v, &why) && c->out->n > 0)
			found = 1;
		else if (why != NULL && *fault == NULL)
			*fault = why;
		json_decref(v);
	}
	scan_free(&sc);
	return found;
}

/*
 * Decode the five predefined XML entities of s[0..len) into a new
 * string; anything else (including unknown entities) is kept as written.
 */
static char *
xml_decode(const char *s, size_t len, size_t *outlen)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
	    {"&quot;", '"'}, {"&apos;", '\''}};
	char *d = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		size_t e;

		if (s[i] == '&') {
			for (e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
				size_t el = strlen(ents[e].ent);

				if (len - i >= el &&
				    memcmp(s + i, ents[e].ent, el) == 0) {
					d[o++] = ents[e].c;
					i += el - 1;
					break;
				}
			}
			if (e < sizeof(ents) / sizeof(ents[0]))
				continue;
		}
		d[o++] = s[i];
	}
	d[o] = '\0';
	*outlen = o;
	return d;
}

/* The content of the first <name>..</name> in s[0..len); 0 when absent. */
static int
xml_child(const char *s, size_t len, const char *open, const char *close,
    const char **body, size_t *blen)
{
	const char *b, *e;

	if ((b = find(s, len, open)) == NULL)
		return 0;
	b += strlen(open);
	if ((e = find(b, (size_t)(s + len - b), close)) == NULL)
		return 0;
	*body = b;
	*blen = (size_t)(e - b);
	return 1;
}

/* Candidates of the XML-like form. Returns 1 when some <response>
 * element was found, whether or not it held a candidate. */
static int
xml_scan(struct collect *c, const char *s, size_t len)
{
	static const char ropen[] = "<response>", rclose[] = "</response>";
	const char *p = s, *end = s + len, *b, *e;
	int seen = 0;

	while (!collect_full(c) &&
	    (b = find(p, (size_t)(end - p), ropen)) != NULL) {
		const char *t, *pr;
		size_t tl, pl, dl;
		double v = NAN;
		char *d;

		b += sizeof(ropen) - 1;
		if ((e = find(b, (size_t)(end - b), rclose)) == NULL)
			break; /* cut off: the element may be incomplete */
		p = e + sizeof(rclose) - 1;
		seen = 1;
		if (!xml_child(
			b, (size_t)(e - b), "<text>", "</text>", &t, &tl))
			continue;
		if (xml_child(b, (size_t)(e - b), "<probability>",
			"</probability>", &pr, &pl) ||
		    xml_child(b, (size_t)(e - b), "<confidence>",
			"</confidence>", &pr, &pl))
			v = prob_from_string(pr, pl);
		trim(&t, &tl);
		d = xml_decode(t, tl, &dl);
		collect_add(c, d, dl, v);
		free(d);
	}
	return seen;
}

/* Remove a ``` fence (with its language tag) around s, trimming. */
static void
strip_fence(const char **s, size_t *len)
{
	const char *p = *s;
	size_t l = *len;

	trim(&p, &l);
	if (l < 3 || memcmp(p, "```", 3) != 0)
		return;
	p += 3;
	l -= 3;
	while (l > 0 && (is_ident(*p) || *p == '-' || *p == '+' || *p == '.')) {
		p++;
		l--;
	}
	if (l >= 3 && memcmp(p + l - 3, "```", 3) == 0)
		l -= 3;
	trim(&p, &l);
	*s = p;
	*len = l;
}

/*
 * direct / multi_turn: a whole-reply JSON object with a "response" string
 * gives that string (structured output); anything else is the candidate
 * as written, trimmed.
 */
static int
parse_single(struct collect *c, const char *text, size_t len, char *errstr,
    size_t errlen)
{
	const char *t = text, *f;
	size_t tl = len, fl;

	trim(&t, &tl);
	if (tl == 0) {
		snprintf(errstr, errlen, "empty reply");
		return -1;
	}
	f = t;
	fl = tl;
	strip_fence(&f, &fl);
	if (fl >= 2 && f[0] == '{' && f[fl - 1] == '}') {
		struct scan sc;
		json_t *v = NULL;

		scan_text(f, fl, &sc);
		if (sc.nspans > 0 && sc.spans[0].end == sc.len - 1)
			v = json_loadb(sc.buf, sc.len, 0, NULL);
		scan_free(&sc);
		if (v != NULL) {
			const json_t *r = json_object_get(v, "response");
			int ok = 1;

			if (json_is_string(r)) {
				collect_add(c, json_string_value(r),
				    json_string_length(r), NAN);
				ok = c->out->n > 0;
			}
			json_decref(v);
			if (!ok) {
				snprintf(
				    errstr, errlen, "empty response in reply");
				return -1;
			}
			if (c->out->n > 0)
				return 0;
		}
	}
	collect_add(c, t, tl, NAN);
	return 0;
}

/*
 * See reply.h. max_items 0 means no cap. On failure out is left empty
 * (safe to reply_free) and errstr names the problem without quoting the
 * reply.
 */
int
reply_parse(const char *text, size_t len, enum reply_kind kind,
    size_t max_items, struct reply *out, char *errstr, size_t errlen)
{
	struct collect c;
	const char *fault = NULL;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.out = out;
	c.max = max_items;
	c.keep_prob = kind == REPLY_LIST_PROB;

	if (text == NULL && len > 0) {
		snprintf(errstr, errlen, "no reply text");
		return -1;
	}
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		snprintf(errstr, errlen, "reply contains a NUL byte");
		return -1;
	}
	if (!utf8_valid(text, len)) {
		snprintf(errstr, errlen, "reply is not valid UTF-8");
		return -1;
	}

	switch (kind) {
	case REPLY_SINGLE:
		if (parse_single(&c, text, len, errstr, errlen) == -1)
			goto fail;
		return 0;
	case REPLY_COT_SINGLE:
		if (json_scan(&c, text, len, kind, &fault))
			return 0;
		snprintf(errstr, errlen, "%s",
		    fault != NULL ? fault
				  : "no JSON object with a response in reply");
		goto fail;
	case REPLY_SEED_SINGLE:
		if (json_scan(&c, text, len, kind, &fault))
			return 0;
		snprintf(errstr, errlen, "%s",
		    fault != NULL
			? fault
			: "no JSON object with a seed and a response in reply");
		goto fail;
	case REPLY_LIST:
	case REPLY_LIST_PROB:
		if (json_scan(&c, text, len, kind, &fault))
			return 0;
		if (xml_scan(&c, text, len)) {
			if (out->n > 0)
				return 0;
			fault = "no candidates in reply";
		}
		snprintf(errstr, errlen, "%s",
		    fault != NULL ? fault : "no responses found in reply");
		goto fail;
	}
	snprintf(errstr, errlen, "unknown reply kind %d", (int)kind);
fail:
	reply_free(out);
	return -1;
}

/* Free what reply_parse filled in and empty r; NULL is a no-op. */
void
reply_free(struct reply *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].text);
	free(r->items);
	free(r->reasoning);
	memset(r, 0, sizeof(*r));
}
