/*
 * check_mpscan: the one msgpack pre-scanner. Every type byte with its
 * smallest complete encoding, the object length before trailing bytes,
 * each reason (truncated, the unused 0xc1, too deep) and where it is
 * found, and the early stop on element counts the bytes cannot hold.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpscan.h"

/* A literal and its length without the terminating NUL. */
#define LIT(s) s, sizeof(s) - 1

static enum mpscan_status
scan(const char *p, size_t len, size_t *objlen, size_t *erroff)
{
	*objlen = SIZE_MAX;
	*erroff = SIZE_MAX;
	return mpscan_object(p, len, objlen, erroff);
}

/* p[0..len) is one complete object, and so is every prefix-free extension
 * of it: its length is len with or without bytes after it. */
static void
is_object(const char *p, size_t len)
{
	char buf[64];
	size_t objlen, erroff;

	ck_assert_uint_lt(len, sizeof(buf));
	ck_assert_int_eq(scan(p, len, &objlen, &erroff), MPSCAN_OK);
	ck_assert_uint_eq(objlen, len);
	memcpy(buf, p, len);
	buf[len] = '\xc0';
	ck_assert_int_eq(scan(buf, len + 1, &objlen, &erroff), MPSCAN_OK);
	ck_assert_uint_eq(objlen, len);
	/* Every proper prefix is truncated. */
	for (size_t n = 0; n < len; n++)
		ck_assert_msg(scan(p, n, &objlen, &erroff) == MPSCAN_TRUNCATED,
		    "prefix of %zu of %zu bytes (type 0x%02x)", n, len,
		    (unsigned char)p[0]);
}

START_TEST(test_types)
{
	/* fixint, nil, false, true, negative fixint */
	is_object(LIT("\x00"));
	is_object(LIT("\x7f"));
	is_object(LIT("\xc0"));
	is_object(LIT("\xc2"));
	is_object(LIT("\xc3"));
	is_object(LIT("\xe0"));
	is_object(LIT("\xff"));
	/* fixmap, fixarray, fixstr */
	is_object(LIT("\x80"));
	is_object(LIT("\x81\x01\x02"));
	is_object(LIT("\x90"));
	is_object(LIT("\x92\x01\x02"));
	is_object(LIT("\xa0"));
	is_object(LIT("\xa3"
		      "abc"));
	/* bin, str: 8, 16, 32-bit lengths */
	is_object(LIT("\xc4\x02xy"));
	is_object(LIT("\xc5\x00\x02xy"));
	is_object(LIT("\xc6\x00\x00\x00\x02xy"));
	is_object(LIT("\xd9\x02xy"));
	is_object(LIT("\xda\x00\x02xy"));
	is_object(LIT("\xdb\x00\x00\x00\x02xy"));
	/* ext: length, type byte, data */
	is_object(LIT("\xc7\x02\x05xy"));
	is_object(LIT("\xc8\x00\x02\x05xy"));
	is_object(LIT("\xc9\x00\x00\x00\x02\x05xy"));
	/* float 32, 64; uint and int 8 to 64 */
	is_object(LIT("\xca\x3f\xc0\x00\x00"));
	is_object(LIT("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"));
	is_object(LIT("\xcc\xff"));
	is_object(LIT("\xcd\xff\xff"));
	is_object(LIT("\xce\xff\xff\xff\xff"));
	is_object(LIT("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"));
	is_object(LIT("\xd0\x80"));
	is_object(LIT("\xd1\x80\x00"));
	is_object(LIT("\xd2\x80\x00\x00\x00"));
	is_object(LIT("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"));
	/* fixext 1 to 16: type byte, then data */
	is_object(LIT("\xd4\x05x"));
	is_object(LIT("\xd5\x05xy"));
	is_object(LIT("\xd6\x05xyzw"));
	is_object(LIT("\xd7\x05"
		      "12345678"));
	is_object(LIT("\xd8\x05"
		      "1234567812345678"));
	/* array and map 16, 32 */
	is_object(LIT("\xdc\x00\x01\x01"));
	is_object(LIT("\xdd\x00\x00\x00\x01\x01"));
	is_object(LIT("\xde\x00\x01\x01\x02"));
	is_object(LIT("\xdf\x00\x00\x00\x01\x01\x02"));
	/* Containers inside containers, empty ones included. */
	is_object(LIT("\x82\xa1k\x91\x90\xa1m\x80"));
}
END_TEST

START_TEST(test_invalid)
{
	size_t objlen, erroff;

	ck_assert_int_eq(scan(LIT("\xc1"), &objlen, &erroff), MPSCAN_INVALID);
	ck_assert_uint_eq(erroff, 0);
	/* The offset of the bad byte, wherever it is. */
	ck_assert_int_eq(
	    scan(LIT("\x81\xa2id\xc1"), &objlen, &erroff), MPSCAN_INVALID);
	ck_assert_uint_eq(erroff, 4);
	ck_assert_int_eq(scan(LIT("\x93\x01\x91\xc1\x02"), &objlen, &erroff),
	    MPSCAN_INVALID);
	ck_assert_uint_eq(erroff, 3);
	/* After the object, 0xc1 is a trailing byte like any other. */
	ck_assert_int_eq(scan(LIT("\x01\xc1"), &objlen, &erroff), MPSCAN_OK);
	ck_assert_uint_eq(objlen, 1);
}
END_TEST

START_TEST(test_truncated)
{
	size_t objlen, erroff;

	ck_assert_int_eq(scan("", 0, &objlen, &erroff), MPSCAN_TRUNCATED);
	/* Headers that announce more than the bytes hold, even 4G elements
	 * in five bytes: refused before anything is allocated for them. */
	ck_assert_int_eq(scan(LIT("\xdd\xff\xff\xff\xff"), &objlen, &erroff),
	    MPSCAN_TRUNCATED);
	ck_assert_int_eq(
	    scan(LIT("\xdf\xff\xff\xff\xff\xc0\xc0"), &objlen, &erroff),
	    MPSCAN_TRUNCATED);
	ck_assert_int_eq(scan(LIT("\xdb\xff\xff\xff\xff"), &objlen, &erroff),
	    MPSCAN_TRUNCATED);
	ck_assert_int_eq(
	    scan(LIT("\xc9\xff\xff\xff\xff\x01"), &objlen, &erroff),
	    MPSCAN_TRUNCATED);
	/* A container whose count outruns the bytes stops at once, before
	 * the invalid byte inside it is read. */
	ck_assert_int_eq(
	    scan(LIT("\x93\xc1"), &objlen, &erroff), MPSCAN_TRUNCATED);
	/* One count at a time: two containers that each fit, but not
	 * together, are read up to the invalid byte. */
	ck_assert_int_eq(
	    scan(LIT("\x92\x91\xc1"), &objlen, &erroff), MPSCAN_INVALID);
}
END_TEST

/* depth nested one-element arrays around nil. */
static size_t
nest(char *buf, int depth)
{
	memset(buf, 0x91, (size_t)depth);
	buf[depth] = '\xc0';
	return (size_t)depth + 1;
}

START_TEST(test_depth)
{
	char buf[MPSCAN_DEPTH_MAX + 8];
	size_t len, objlen, erroff;

	len = nest(buf, MPSCAN_DEPTH_MAX);
	ck_assert_int_eq(scan(buf, len, &objlen, &erroff), MPSCAN_OK);
	ck_assert_uint_eq(objlen, len);
	len = nest(buf, MPSCAN_DEPTH_MAX + 1);
	ck_assert_int_eq(scan(buf, len, &objlen, &erroff), MPSCAN_TOO_DEEP);
	/* An empty container is a level too. */
	memset(buf, 0x91, MPSCAN_DEPTH_MAX);
	buf[MPSCAN_DEPTH_MAX] = '\x90';
	ck_assert_int_eq(
	    scan(buf, MPSCAN_DEPTH_MAX + 1, &objlen, &erroff), MPSCAN_TOO_DEEP);
	buf[MPSCAN_DEPTH_MAX - 1] = '\x90';
	ck_assert_int_eq(
	    scan(buf, MPSCAN_DEPTH_MAX, &objlen, &erroff), MPSCAN_OK);
	/* Closed levels are given back: wide and deep is fine. */
	memset(buf, 0x92, 2);
	len = 2 + nest(buf + 2, MPSCAN_DEPTH_MAX - 2);
	buf[len++] = '\x01';
	buf[len++] = '\x01';
	ck_assert_int_eq(scan(buf, len, &objlen, &erroff), MPSCAN_OK);
	ck_assert_uint_eq(objlen, len);
}
END_TEST

static Suite *
mpscan_suite(void)
{
	Suite *s = suite_create("mpscan");
	TCase *tc = tcase_create("scan");

	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_depth);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mpscan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
