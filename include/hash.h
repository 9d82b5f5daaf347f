/*
 * hash: the project's one set of 64-bit hash mixers, as static inline
 * functions so that every caller gets the same code and nothing to link.
 *
 * Their values are part of the contract: a job's default seed (select.c)
 * drives deterministic selection, and the dedup state file
 * (scope_file.c) stores these hashes, so any change here changes what a
 * restart reads back. tests/unit/check_select.c and
 * tests/unit/check_scope.c pin known values.
 *
 * Leaf header: pure arithmetic, no state.
 */
#ifndef VSAMPD_HASH_H
#define VSAMPD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits (Fowler, Noll and Vo). */
#define HASH_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define HASH_FNV_PRIME UINT64_C(0x100000001b3)

/* The splitmix64 increment (2^64 / the golden ratio). */
#define HASH_GOLDEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/*
 * The splitmix64 output function (Steele, Lea and Flood, 2014), used as
 * a finaliser: FNV-1a spreads short inputs poorly in the high bits, and
 * this mixes every input bit into every output bit.
 */
static inline uint64_t
hash_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* One FNV-1a step: the state h after the byte c. */
static inline uint64_t
hash_fnv1a_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * HASH_FNV_PRIME;
}

/* The FNV-1a state h after the bytes p[0..len); start from
 * HASH_FNV_OFFSET. */
static inline uint64_t
hash_fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *u = p;

	for (size_t i = 0; i < len; i++)
		h = hash_fnv1a_byte(h, u[i]);
	return h;
}

/* FNV-1a over p[0..len), then the splitmix64 finaliser. */
static inline uint64_t
hash_bytes(const void *p, size_t len)
{
	return hash_mix64(hash_fnv1a(HASH_FNV_OFFSET, p, len));
}

#endif
