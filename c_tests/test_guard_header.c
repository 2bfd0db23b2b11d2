/* mapipc.h declares only mapipc_ names: a program's own type named
 * Outcome (the internal copy's return type once leaked into the header)
 * compiles beside it. Building this file is the test. */
typedef struct Outcome { int ok; } Outcome;

#include "check.h"

static void header_leaves_program_names_free(void) {
    Outcome o = {1};
    CHECK(o.ok == 1);
}

int main(void) {
    RUN(header_leaves_program_names_free);
    return check_done();
}
