#define _GNU_SOURCE
#include "dcrond_system.h"

#include <sys/prctl.h>

void dcrond_set_thread_name(const char *name) {
    // prctl is variadic, so Swift cannot call it directly.
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
