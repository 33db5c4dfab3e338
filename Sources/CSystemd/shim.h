#ifndef DCROND_CSYSTEMD_SHIM_H
#define DCROND_CSYSTEMD_SHIM_H

// libsystemd from Debian (`libsystemd-dev`): readiness and the watchdog (sd-daemon), and the
// journal's native protocol (sd-journal). sd_journal_send is variadic: Swift calls sd_journal_sendv.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#endif
