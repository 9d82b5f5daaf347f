/*
 * dlq: what a DLQ copy is (docs/operations.md, Dead letters and replay)
 * and what `vsampctl replay` decides about one: the names of the
 * headers vsampd adds to a copy, the error codes a replay takes, the
 * times --since and --until name, and the verdict for one copy. Leaf
 * module: no I/O, no Kafka; the caller hands it header names and values.
 */
#ifndef VSAMPD_DLQ_H
#define VSAMPD_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* Every header vsampd writes starts so; a replay drops them all. */
#define DLQ_HDR_PREFIX "vsampd-"
/* The headers of a DLQ copy (daemon_produce.c writes them). */
#define DLQ_HDR_ERROR "vsampd-error"
#define DLQ_HDR_ERROR_MESSAGE "vsampd-error-message"
#define DLQ_HDR_ATTEMPTS "vsampd-attempts"
#define DLQ_HDR_SOURCE_TOPIC "vsampd-source-topic"
#define DLQ_HDR_SOURCE_PARTITION "vsampd-source-partition"
#define DLQ_HDR_SOURCE_OFFSET "vsampd-source-offset"
#define DLQ_HDR_ORIGINAL_SIZE "vsampd-original-size"
/* The headers of a replayed job (vsampctl replay writes them): how many
 * times it was replayed, and when last. */
#define DLQ_HDR_REPLAYED "vsampd-replayed"
#define DLQ_HDR_REPLAYED_AT "vsampd-replayed-at"

/* No bound on a time filter. */
#define DLQ_NO_SINCE INT64_MIN
#define DLQ_NO_UNTIL INT64_MAX

/* Which copies a replay takes. */
struct dlq_filter {
	unsigned codes; /* bit (1u << code) for each code replayed */
	int64_t since_ms; /* copies made at or after (DLQ_NO_SINCE: any) */
	int64_t until_ms; /* copies made before (DLQ_NO_UNTIL: any) */
};

/* What the headers and the timestamp of one DLQ message say. */
struct dlq_copy {
	int has_error; /* a vsampd-error header was seen */
	enum err_code code; /* its code; ERR_COUNT for a name we do not know */
	int empty; /* vsampd-original-size: the value was not copied */
	unsigned replays; /* vsampd-replayed: replays before this one */
	int64_t ts_ms; /* the message's timestamp; -1 when it has none */
};

enum dlq_verdict {
	DLQ_REPLAY,
	DLQ_SKIP_CODE, /* its code is not one of the filter's */
	DLQ_SKIP_TIME, /* made outside --since/--until (or no timestamp) */
	DLQ_SKIP_EMPTY, /* the job was too large to copy: nothing to send */
	DLQ_SKIP_FOREIGN, /* no vsampd-error header: not a vsampd copy */
	DLQ_NVERDICTS
};

/* The filter of a replay with no options: the default codes, any time. */
void dlq_filter_init(struct dlq_filter *f);
/* An empty copy with timestamp ts_ms (-1: none). */
void dlq_copy_init(struct dlq_copy *cp, int64_t ts_ms);
/* Note one header of the message (value not NUL-terminated, may be NULL);
 * headers that are not a DLQ copy's are ignored. */
void dlq_copy_header(
    struct dlq_copy *cp, const char *name, const void *value, size_t len);
/* What to do with the copy. */
enum dlq_verdict dlq_verdict(
    const struct dlq_filter *f, const struct dlq_copy *cp);
/* "replay", "code", "time", "empty", "foreign". */
const char *dlq_verdict_name(enum dlq_verdict v);
/* Whether a header is vsampd's (it starts with DLQ_HDR_PREFIX). */
int dlq_header_ours(const char *name);

/*
 * The codes a replay takes when not told (every code but bad_job and
 * poison, which fail the same way again until the job is fixed).
 */
unsigned dlq_codes_default(void);
/*
 * Parse a comma-separated list of error code names ("backend,timeout")
 * into *codes. Returns 0, or -1 with errstr naming the bad name and
 * listing the valid ones.
 */
int dlq_codes_parse(
    const char *list, unsigned *codes, char *errstr, size_t errlen);

/*
 * Parse a time: RFC 3339 ("2026-05-01T10:00:00Z", fractions and
 * +hh:mm offsets allowed) or a duration before now_ms ("30s", "30m",
 * "2h", "7d"). Sets *ms (milliseconds since the epoch) and returns 0,
 * or returns -1 with errstr saying what is wrong.
 */
int dlq_time_parse(const char *s, int64_t now_ms, int64_t *ms, char *errstr,
    size_t errlen);
/* ms as RFC 3339 in UTC with milliseconds ("2026-05-01T10:00:00.000Z");
 * needs 25 bytes. */
void dlq_time_format(int64_t ms, char *buf, size_t len);

#endif
