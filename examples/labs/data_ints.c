/* Seed 002: room for 10 integers in the file "data", two of them set.
 * `od -An -tx1 data` shows 78 56 34 12 de c0 ad de and 32 zero bytes: the
 * CPU is little-endian. The original wrote one byte too many ('A' at
 * offset 40) to size the file; mapipc sizes it exactly. Usage: data_ints */
#include <stdint.h>

#include "lab.h"

int main(void) {
    size_t size = sizeof(int32_t) * 10;
    int32_t *array = NULL;
    TRY(mapipc_map_file("data", 0, size, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&array));
    array[0] = 0x12345678;
    array[1] = (int32_t)0xdeadc0de;
    TRY(mapipc_unmap(array));
    return 0;
}
