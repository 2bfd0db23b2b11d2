/* Seed 004's chat, for real: two processes talk through two channels in a
 * shared file, one each way. Each side sends the lines of its standard input
 * and prints the other side's lines as they arrive; at the end of its input
 * it closes its outgoing channel, and it stops once the other side has
 * closed (or exited). No polling, no sleep(1): receives sleep until a
 * message comes. Usage: chat_channel FILE a|b   (remove FILE afterwards) */
#include <pthread.h>
#include <string.h>

#include "lab.h"

#define CHANNEL 16384 /* bytes per direction */
#define LINE 256

struct listener {
    void *chan;
    const char *peer;
};

/* Prints the other side's messages until its channel is closed. */
static void *print_peer(void *arg) {
    struct listener *l = arg;
    char line[LINE];
    size_t len;
    mapipc_status st;
    while ((st = mapipc_channel_recv(l->chan, line, sizeof line, &len, -1)) == MAPIPC_OK) {
        printf("%s: %.*s\n", l->peer, (int)len, line);
        fflush(stdout);
    }
    if (st != MAPIPC_ERR_CLOSED) fprintf(stderr, "receive: %s\n", mapipc_last_error());
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[2], "a") != 0 && strcmp(argv[2], "b") != 0)) {
        fprintf(stderr, "usage: %s FILE a|b\n", argv[0]);
        return 2;
    }
    int me = argv[2][0] == 'a' ? 0 : 1;
    char *mem = NULL;
    TRY(mapipc_map_file(argv[1], 0, 2 * CHANNEL, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&mem));
    /* Channel 0 carries a's lines to b, channel 1 b's lines to a. Both sides
     * initialise both; whoever comes second changes nothing. */
    TRY(mapipc_channel_init(mem, CHANNEL));
    TRY(mapipc_channel_init(mem + CHANNEL, CHANNEL));
    void *out = mem + me * CHANNEL, *in = mem + (1 - me) * CHANNEL;
    struct listener l = {in, me == 0 ? "b" : "a"};
    pthread_t t;
    if (pthread_create(&t, NULL, print_peer, &l) != 0) return 1;
    char line[LINE];
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strcspn(line, "\n");
        TRY(mapipc_channel_send(out, line, len, -1));
    }
    TRY(mapipc_channel_close(out));
    pthread_join(t, NULL);
    TRY(mapipc_unmap(mem));
    return 0;
}
