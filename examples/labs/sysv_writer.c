/* Seed 003, the System V writer: creates the segment of ftok("keytest",
 * 100) and writes "hello world". The original created it mode 0666 (anyone
 * could write) and tested shmat's result with `< 0`; mapipc creates 0600
 * and reports failures. Usage: sysv_writer [KEYFILE] */
#include <string.h>

#include "lab.h"

int main(int argc, char *argv[]) {
    const char *keyfile = argc > 1 ? argv[1] : "keytest";
    char *buf = NULL;
    TRY(mapipc_shm_open_key(keyfile, 100, 512, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&buf));
    strcpy(buf, "hello world");
    printf("wrote \"%s\"\n", buf);
    TRY(mapipc_unmap(buf)); /* detach; the segment stays for the reader */
    return 0;
}
