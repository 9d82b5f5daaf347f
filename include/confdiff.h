/*
 * confdiff: what a reload (SIGHUP) changes. Two configs are compared as
 * conf_print() renders them (secrets already redacted), flattened to
 * "path = value" lines such as `backends[0].url = "http://..."`, so
 * that every key is covered without a second list of keys to keep in
 * step with conf.c. Keys that need a restart (the Kafka connection, the
 * metrics listener, the dedup index) are told apart, and their running
 * values can be carried into the new config.
 * Leaf module: memory only.
 */
#ifndef VSAMPD_CONFDIFF_H
#define VSAMPD_CONFDIFF_H

struct conf;

/* Called per changed key: path, the old and new values ("(unset)" when
 * absent), and whether applying it needs a restart. */
typedef void (*confdiff_cb)(
    void *arg, const char *path, const char *was, const char *now, int restart);

/* Report every key whose value differs between a and b. Returns the
 * number of changed keys. */
int confdiff_each(
    const struct conf *a, const struct conf *b, confdiff_cb cb, void *arg);

/* 1 when a change to path takes a restart. */
int confdiff_needs_restart(const char *path);

/* Carry the restart-only settings of running into next (swapping them,
 * so that running ends up holding what next had). */
void confdiff_keep_restart(struct conf *next, struct conf *running);

#endif
