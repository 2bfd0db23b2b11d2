/* Shared by the lab programs: every mapipc status is checked, and a
 * failure prints the call, the status name and mapipc's message. */
#ifndef MAPIPC_LAB_H
#define MAPIPC_LAB_H

#include <stdio.h>
#include <stdlib.h>

#include <mapipc.h>

#define TRY(call)                                                            \
    do {                                                                     \
        mapipc_status try_status_ = (call);                                  \
        if (try_status_ != MAPIPC_OK) {                                      \
            fprintf(stderr, "%s: %s: %s\n", #call,                           \
                    mapipc_status_name(try_status_), mapipc_last_error());   \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#endif
