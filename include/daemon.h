/*
 * daemon: vsampd's Kafka front door. It consumes jobs, feeds them to the
 * pipeline, produces results (and DLQ copies), stores offsets at each
 * partition's contiguous low watermark of delivered results, pauses
 * partitions for backpressure, and drains on SIGTERM/SIGINT.
 */
#ifndef VSAMPD_DAEMON_H
#define VSAMPD_DAEMON_H

struct conf;

/*
 * Run until a signal asks to stop (SIGTERM, SIGINT must be blocked by the
 * caller beforehand, and SIGHUP, which reloads the config; they are read
 * from a signalfd). Takes ownership of conf: a reload replaces it.
 * Returns the process exit status.
 */
int daemon_run(struct conf *conf);

#endif
