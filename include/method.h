/*
 * method: the sampling methods a job can ask for (docs/methods.md) and
 * their names. A leaf module: no I/O.
 */
#ifndef VSAMPD_METHOD_H
#define VSAMPD_METHOD_H

#include <stddef.h>

/* The methods of docs/methods.md. */
enum method {
	METHOD_DIRECT = 0,
	METHOD_DIRECT_COT,
	METHOD_SEQUENCE,
	METHOD_MULTI_TURN,
	METHOD_VS_STANDARD,
	METHOD_VS_COT,
	METHOD_VS_MULTI,
	METHOD_SSOT,
	METHOD_COUNT
};

/* "vs_standard" etc.; NULL for an out-of-range value. */
const char *method_name(enum method m);
/* Parse a method name; returns 0 and sets *m, or -1. */
int method_parse(const char *s, enum method *m);
/* Every method name, in enum order, joined by ", " into buf (NUL-
 * terminated, cut short when len is too small); for error messages. */
void method_list(char *buf, size_t len);

#endif
