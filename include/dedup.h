/*
 * dedup: duplicate removal inside one job (docs/dedup.md; step 6 of
 * docs/methods.md), and the text keys that the cross-job scope index (scope.h)
 * shares with it. Two candidates are duplicates when
 *   - their normalised forms are equal (exact), or
 *   - both have tokens and the Jaccard similarity of their token SETS
 *     (tokens.h) is >= the threshold (near).
 * Normalisation, byte by byte: ASCII letters are lower-cased; ASCII
 * punctuation (the 32 characters of ispunct() in the C locale) is deleted,
 * not replaced, so "don't" becomes "dont"; every run of ASCII whitespace
 * (space, \t, \n, \v, \f, \r) becomes one space, and leading and trailing
 * whitespace is dropped; every other byte, including control characters
 * and all bytes >= 0x80, is kept as it is. Punctuation is deleted before
 * whitespace is collapsed, so "a , b" becomes "a b".
 * Everything here is deterministic and depends on the bytes only.
 * Leaf module.
 */
#ifndef VSAMPD_DEDUP_H
#define VSAMPD_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "tokens.h"

/*
 * Write the normalised form of text[0..len) to out, which must have room
 * for len bytes (normalising never lengthens). No NUL is added. Returns
 * the length written.
 */
size_t dedup_normalise(const char *text, size_t len, char *out);

/*
 * A 64-bit hash of the normalised form of text[0..len): FNV-1a over its
 * bytes, then a splitmix64 finaliser. It is stored in the scope state
 * file, so it must never change. Equal hashes count as equal forms (two
 * different forms collide with probability about 2^-64).
 */
uint64_t dedup_norm_hash(const char *text, size_t len);

/*
 * Write the token SET of tok to out (room for tok->n values): the hashes
 * sorted ascending, each once. Returns how many were written.
 */
size_t dedup_token_set(const struct tokens *tok, uint64_t *out);

/* Sort n token hashes ascending, in place (repeats kept). */
void dedup_sort_hashes(uint64_t *h, size_t n);

/*
 * The number of values two ascending arrays share, by one merge: the size
 * of the intersection of two sets, or, with repeats, of two multisets.
 */
size_t dedup_sorted_overlap(
    const uint64_t *a, size_t na, const uint64_t *b, size_t nb);

/*
 * The Jaccard similarity |A and B| / |A or B| of two sets given as sorted
 * arrays of distinct values, computed as the double quotient of the two
 * counts. Returns 0 when either set is empty (docs/diversity.md).
 */
double dedup_jaccard(
    const uint64_t *a, size_t na, const uint64_t *b, size_t nb);

/*
 * Mark the duplicates among texts[0..n) (lens[i] bytes each, NULs
 * allowed). Candidates are taken in order; the first occurrence is kept,
 * and a later one is dropped when it duplicates (see above) ANY earlier
 * KEPT candidate. near_threshold is compared with >=, so a Jaccard of
 * exactly 0.8 is a duplicate at 0.8; a threshold above 1 (or NaN) turns
 * near matching off, and 0 makes every two texts with tokens duplicates.
 * Two texts without tokens are duplicates only when their normalised
 * forms are equal; a text without tokens is never a near duplicate of
 * one with tokens. Writes keep[i] = 1 for kept, 0 for dropped, and
 * returns the number dropped. Cost: O(n * kept * tokens) in the worst
 * case, with a size filter that skips pairs whose set sizes alone rule
 * out the threshold.
 */
size_t dedup_in_job(const char *const *texts, const size_t *lens, size_t n,
    double near_threshold, unsigned char *keep);

#endif
