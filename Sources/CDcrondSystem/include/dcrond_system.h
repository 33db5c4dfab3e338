#ifndef DCROND_SYSTEM_H
#define DCROND_SYSTEM_H

/// Names the calling thread (shown by `top -H`, `ps -L`); truncated to 15 bytes.
void dcrond_set_thread_name(const char *name);

#endif
