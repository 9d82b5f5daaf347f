/*
 * notify: the systemd notification protocol (sd_notify). With libsystemd
 * it calls sd_notify(); without, it writes the datagram to $NOTIFY_SOCKET
 * itself. Outside systemd both are no-ops.
 */
#ifndef VSAMPD_NOTIFY_H
#define VSAMPD_NOTIFY_H

#include <stdint.h>

/* Send state (e.g. "READY=1"). Returns 0 when sent or not under systemd,
 * -1 on a send error. */
int notify_send(const char *state);
/* The watchdog interval in ms from $WATCHDOG_USEC (when meant for this
 * process), or 0 when none. */
uint64_t notify_watchdog_ms(void);

#endif
