#ifndef DCROND_CHIREDIS_SHIM_H
#define DCROND_CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>

#endif
