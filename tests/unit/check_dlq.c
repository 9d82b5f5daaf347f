/*
 * check_dlq: what vsampctl replay decides about a DLQ copy: the header
 * names the daemon writes, error code lists, the times of --since and
 * --until (RFC 3339 against values from Python's datetime, durations,
 * every malformed form), and the verdict for one copy.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "result.h"

#define NOW INT64_C(1777629600000) /* 2026-05-01T10:00:00Z */

/* The error text of a time that must not parse. */
static const char *
time_error(const char *s)
{
	static char err[256];
	int64_t ms = 12345;

	err[0] = '\0';
	ck_assert_msg(dlq_time_parse(s, NOW, &ms, err, sizeof(err)) == -1,
	    "\"%s\" parsed", s);
	ck_assert_msg(ms == 12345, "\"%s\" wrote *ms", s);
	ck_assert_msg(strlen(err) > 0, "\"%s\": no error text", s);
	return err;
}

static int64_t
time_ok(const char *s)
{
	char err[256] = "";
	int64_t ms = -1;

	ck_assert_msg(dlq_time_parse(s, NOW, &ms, err, sizeof(err)) == 0,
	    "\"%s\": %s", s, err);
	return ms;
}

START_TEST(test_rfc3339)
{
	/* The values are Python's datetime.fromisoformat(s).timestamp(). */
	ck_assert_int_eq(time_ok("2026-05-01T10:00:00Z"), NOW);
	ck_assert_int_eq(time_ok("2026-05-01T12:00:00+02:00"), NOW);
	ck_assert_int_eq(time_ok("2026-05-01t10:00:00z"), NOW);
	ck_assert_int_eq(time_ok("2026-05-01 10:00:00Z"), NOW);
	ck_assert_int_eq(
	    time_ok("2000-02-29T23:59:59.999Z"), INT64_C(951868799999));
	ck_assert_int_eq(
	    time_ok("2000-02-29T23:59:59.9991234Z"), INT64_C(951868799999));
	ck_assert_int_eq(time_ok("2000-02-29T23:59:59.5Z"),
	    INT64_C(951868799500));
	ck_assert_int_eq(time_ok("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(
	    time_ok("2024-12-31T23:30:00-01:30"), INT64_C(1735693200000));
	ck_assert_int_eq(
	    time_ok("2100-03-01T00:00:00Z"), INT64_C(4107542400000));
	ck_assert_int_eq(
	    time_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799000));
	ck_assert_int_eq(
	    time_ok("2038-01-19T03:14:08Z"), INT64_C(2147483648000));
	/* A date alone is its midnight UTC. */
	ck_assert_int_eq(time_ok("2026-05-01"), NOW - 10 * 3600 * 1000);
	/* A leap second is the next minute's first. */
	ck_assert_int_eq(time_ok("2026-05-01T09:59:60Z"), NOW);
}
END_TEST

START_TEST(test_relative)
{
	ck_assert_int_eq(time_ok("0s"), NOW);
	ck_assert_int_eq(time_ok("30s"), NOW - 30 * 1000);
	ck_assert_int_eq(time_ok("30m"), NOW - 30 * 60 * 1000);
	ck_assert_int_eq(time_ok("2h"), NOW - 2 * 3600 * 1000);
	ck_assert_int_eq(time_ok("7d"), NOW - INT64_C(7) * 86400 * 1000);
	/* Back to the epoch exactly, and not a millisecond before. */
	ck_assert_int_eq(time_ok("1777629600s"), 0);
	ck_assert_ptr_nonnull(strstr(time_error("1777629601s"), "1970"));
	ck_assert_ptr_nonnull(strstr(time_error("99999999d"), "1970"));
	ck_assert_ptr_nonnull(
	    strstr(time_error("99999999999999999999999d"), "too long"));
}
END_TEST

START_TEST(test_bad_times)
{
	static const char *const bad[] = {
	    "", "yesterday", "2026-05-01T10:00Z", "2026-5-01", "26-05-01",
	    "2026-05-01T10:00:00", "2026-05-01T10:00:00+0200",
	    "2026-05-01T10:00:00Zjunk", "2026-05-01T10:00:00.Z",
	    "2026-05-01X10:00:00Z", "2026-05-01T", "30min", "-2h", "2 h",
	    "2h ", "2026-13-01", "2026-04-31", "2023-02-29", "2100-02-29",
	    "2026-00-10", "2026-01-00", "2026-05-01T24:00:00Z",
	    "2026-05-01T10:60:00Z", "2026-05-01T10:00:61Z",
	    "2026-05-01T10:00:00+24:00", "1969-12-31T23:59:59Z",
	    "1970-01-01T00:30:00+01:00", "30", "2x"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		time_error(bad[i]);
	ck_assert_ptr_nonnull(strstr(time_error("30"), "unit"));
	ck_assert_ptr_nonnull(strstr(time_error("2x"), "unit 'x'"));
	ck_assert_ptr_nonnull(strstr(time_error("2026-04-31"), "no such date"));
	ck_assert_ptr_nonnull(
	    strstr(time_error("2026-05-01T10:00:00"), "time zone"));
	ck_assert_ptr_nonnull(strstr(time_error("yesterday"), "RFC 3339"));
	/* The text quotes the input, cut short. */
	ck_assert_ptr_nonnull(strstr(time_error("yesterday"), "\"yesterday\""));
	{
		char longer[400];

		memset(longer, 'x', sizeof(longer) - 1);
		longer[sizeof(longer) - 1] = '\0';
		ck_assert_int_lt(strlen(time_error(longer)), 200);
	}
}
END_TEST

START_TEST(test_format_round_trip)
{
	char buf[32];
	uint64_t x = 88172645463325252ULL;

	dlq_time_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	dlq_time_format(INT64_C(951868799999), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2000-02-29T23:59:59.999Z");
	dlq_time_format(INT64_C(4107542400000), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2100-03-01T00:00:00.000Z");
	dlq_time_format(INT64_C(253402300799000), buf, sizeof(buf));
	ck_assert_str_eq(buf, "9999-12-31T23:59:59.000Z");
	dlq_time_format(NOW + 7, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-05-01T10:00:00.007Z");
	/* Every day boundary of 1970-2400 and random instants up to 9999
	 * come back as themselves. */
	for (int64_t d = 0; d < 430 * 366; d++) {
		int64_t ms = d * 86400000 + (d % 1000);

		dlq_time_format(ms, buf, sizeof(buf));
		ck_assert_int_eq(time_ok(buf), ms);
	}
	for (int i = 0; i < 100000; i++) {
		int64_t ms;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = (int64_t)(x % UINT64_C(253402300800000));
		dlq_time_format(ms, buf, sizeof(buf));
		ck_assert_int_eq(time_ok(buf), ms);
	}
}
END_TEST

START_TEST(test_codes)
{
	char err[256];
	unsigned codes = 0, def = dlq_codes_default();

	ck_assert_int_eq(dlq_codes_parse("backend", &codes, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(codes, 1u << ERR_BACKEND);
	ck_assert_int_eq(dlq_codes_parse("backend,timeout,backend,poison",
			     &codes, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(codes,
	    (1u << ERR_BACKEND) | (1u << ERR_TIMEOUT) | (1u << ERR_POISON));
	/* Every code vsampd uses is a valid name. */
	for (int c = ERR_NONE + 1; c < ERR_COUNT; c++) {
		ck_assert_int_eq(dlq_codes_parse(err_code_name(c), &codes, err,
				     sizeof(err)),
		    0);
		ck_assert_uint_eq(codes, 1u << c);
	}
	/* An unknown one is named, with the valid ones listed. */
	codes = 77;
	ck_assert_int_eq(
	    dlq_codes_parse("backend,nope", &codes, err, sizeof(err)), -1);
	ck_assert_uint_eq(codes, 77);
	ck_assert_ptr_nonnull(strstr(err, "\"nope\""));
	ck_assert_ptr_nonnull(strstr(err,
	    "bad_job, backend, timeout, rate_limited, parse, too_large, "
	    "internal, poison"));
	ck_assert_int_eq(dlq_codes_parse("ok", &codes, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"ok\""));
	ck_assert_int_eq(
	    dlq_codes_parse("Backend", &codes, err, sizeof(err)), -1);
	ck_assert_int_eq(dlq_codes_parse("", &codes, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_eq(
	    dlq_codes_parse("backend,", &codes, err, sizeof(err)), -1);
	ck_assert_int_eq(
	    dlq_codes_parse("backend,,timeout", &codes, err, sizeof(err)), -1);
	ck_assert_int_eq(dlq_codes_parse("backend_timeout_rate_limited_parse_x",
			     &codes, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown error code"));
	/* The default: all but bad_job and poison. */
	ck_assert_uint_eq(def & (1u << ERR_BAD_JOB), 0);
	ck_assert_uint_eq(def & (1u << ERR_POISON), 0);
	ck_assert_uint_eq(def & (1u << ERR_NONE), 0);
	for (int c = ERR_BACKEND; c <= ERR_INTERNAL; c++)
		ck_assert_uint_ne(def & (1u << c), 0);
}
END_TEST

/* A copy from headers given as "name=value" strings. */
static void
copy_of(struct dlq_copy *cp, int64_t ts, const char *const *hdrs, size_t n)
{
	dlq_copy_init(cp, ts);
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(hdrs[i], '=');
		char name[64];

		ck_assert_ptr_nonnull(eq);
		memcpy(name, hdrs[i], (size_t)(eq - hdrs[i]));
		name[eq - hdrs[i]] = '\0';
		dlq_copy_header(cp, name, eq + 1, strlen(eq + 1));
	}
}

START_TEST(test_verdict)
{
	static const char *const backend[] = {"trace=abc",
	    DLQ_HDR_ERROR "=backend", DLQ_HDR_ERROR_MESSAGE "=refused",
	    DLQ_HDR_ATTEMPTS "=3"};
	static const char *const bad_job[] = {DLQ_HDR_ERROR "=bad_job"};
	static const char *const empty[] = {
	    DLQ_HDR_ERROR "=bad_job", DLQ_HDR_ORIGINAL_SIZE "=20000000"};
	static const char *const again[] = {DLQ_HDR_REPLAYED "=2",
	    DLQ_HDR_REPLAYED_AT "=2026-05-01T09:00:00.000Z",
	    DLQ_HDR_ERROR "=timeout"};
	static const char *const future[] = {DLQ_HDR_ERROR "=melted"};
	static const char *const foreign[] = {"vsampd-errors=backend"};
	/* A replayed job that failed again through kcat's replay, which
	 * kept the old headers: the last vsampd-error is the new one. */
	static const char *const twice[] = {
	    DLQ_HDR_ERROR "=bad_job", DLQ_HDR_ERROR "=backend"};
	static const char *const badnum[] = {
	    DLQ_HDR_ERROR "=backend", DLQ_HDR_REPLAYED "=-1"};
	struct dlq_filter f;
	struct dlq_copy cp;

	dlq_filter_init(&f);
	copy_of(&cp, NOW, backend, 4);
	ck_assert_int_eq(cp.code, ERR_BACKEND);
	ck_assert_uint_eq(cp.replays, 0);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW, bad_job, 1);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_CODE);
	copy_of(&cp, NOW, empty, 2);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_EMPTY);
	copy_of(&cp, NOW, again, 3);
	ck_assert_uint_eq(cp.replays, 2);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW, future, 1);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_CODE);
	copy_of(&cp, NOW, foreign, 1);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_FOREIGN);
	copy_of(&cp, NOW, NULL, 0);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_FOREIGN);
	copy_of(&cp, NOW, twice, 2);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW, badnum, 2);
	ck_assert_uint_eq(cp.replays, 0);
	/* A header with no value is no code. */
	dlq_copy_init(&cp, NOW);
	dlq_copy_header(&cp, DLQ_HDR_ERROR, NULL, 0);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_CODE);

	/* Codes: bad_job asked for, backend not. */
	ck_assert_int_eq(dlq_codes_parse("bad_job", &f.codes, NULL, 0), 0);
	copy_of(&cp, NOW, bad_job, 1);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_CODE);
	/* An empty copy stays empty whatever the codes. */
	copy_of(&cp, NOW, empty, 2);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_EMPTY);

	/* Times: since is inclusive, until exclusive; no timestamp is
	 * outside any window, and inside none at all. */
	dlq_filter_init(&f);
	f.since_ms = NOW - 1000;
	f.until_ms = NOW;
	copy_of(&cp, NOW - 1000, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW - 1, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, NOW, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_TIME);
	copy_of(&cp, NOW - 1001, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_TIME);
	copy_of(&cp, -1, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_TIME);
	f.until_ms = DLQ_NO_UNTIL;
	copy_of(&cp, INT64_C(253402300799000), backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	copy_of(&cp, -1, backend, 4);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_TIME);
	f.since_ms = DLQ_NO_SINCE;
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_REPLAY);
	/* The code is judged before the time. */
	f.until_ms = 0;
	copy_of(&cp, NOW, bad_job, 1);
	ck_assert_int_eq(dlq_verdict(&f, &cp), DLQ_SKIP_CODE);

	ck_assert_str_eq(dlq_verdict_name(DLQ_REPLAY), "replay");
	ck_assert_str_eq(dlq_verdict_name(DLQ_SKIP_FOREIGN), "foreign");
	ck_assert_str_eq(dlq_verdict_name(DLQ_NVERDICTS), "?");
}
END_TEST

START_TEST(test_headers_ours)
{
	static const char *const ours[] = {DLQ_HDR_ERROR,
	    DLQ_HDR_ERROR_MESSAGE, DLQ_HDR_ATTEMPTS, DLQ_HDR_SOURCE_TOPIC,
	    DLQ_HDR_SOURCE_PARTITION, DLQ_HDR_SOURCE_OFFSET,
	    DLQ_HDR_ORIGINAL_SIZE, DLQ_HDR_REPLAYED, DLQ_HDR_REPLAYED_AT,
	    "vsampd-schema"};

	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		ck_assert_msg(dlq_header_ours(ours[i]), "%s", ours[i]);
	ck_assert(!dlq_header_ours("trace"));
	ck_assert(!dlq_header_ours("vsampd"));
	ck_assert(!dlq_header_ours("x-vsampd-error"));
	ck_assert(!dlq_header_ours("Vsampd-error"));
	/* The names the docs give (docs/operations.md). */
	ck_assert_str_eq(DLQ_HDR_ERROR, "vsampd-error");
	ck_assert_str_eq(DLQ_HDR_ORIGINAL_SIZE, "vsampd-original-size");
	ck_assert_str_eq(DLQ_HDR_REPLAYED, "vsampd-replayed");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dlq");
	TCase *tc = tcase_create("dlq");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_rfc3339);
	tcase_add_test(tc, test_relative);
	tcase_add_test(tc, test_bad_times);
	tcase_add_test(tc, test_format_round_trip);
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_verdict);
	tcase_add_test(tc, test_headers_ours);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
