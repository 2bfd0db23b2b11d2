/* Seed 004's chat as a server with many clients: one many-sender channel
 * carries every client's lines into the server, and one channel per client
 * carries the conversation back. The server waits on its channel's
 * descriptor and on its standard input with one epoll, prints what it
 * hears and passes every line on to the other clients. A client sends its
 * standard input's lines and prints what comes back; at the end of its
 * input it says goodbye (an empty message), and the server closes its
 * channel. The server ends once its input ended and every client left.
 *
 * Usage: chat_server FILE serve CLIENTS | chat_server FILE client ID
 * (start the server first; remove FILE afterwards) */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lab.h"

#define INBOX 65536  /* the many-sender channel into the server */
#define OUTBOX 16384 /* each client's channel back */
#define MAX_CLIENTS 16
#define LINE 256

static char *open_chat(const char *path, int clients) {
    char *mem = NULL;
    size_t size = INBOX + (size_t)clients * OUTBOX;
    TRY(mapipc_map_file(path, 0, size, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&mem));
    TRY(mapipc_channel_init_with(mem, INBOX, MAPIPC_CHANNEL_MANY_SENDERS));
    for (int k = 0; k < clients; k++) TRY(mapipc_channel_init(mem + INBOX + (size_t)k * OUTBOX, OUTBOX));
    return mem;
}

/* Sends `text` to every client still here but `from`. */
static void pass_on(char *mem, int clients, const int *here, int from, const char *text, size_t len) {
    for (int k = 0; k < clients; k++) {
        if (k == from || !here[k]) continue;
        mapipc_status st = mapipc_channel_send(mem + INBOX + (size_t)k * OUTBOX, text, len, 1000000000LL);
        if (st != MAPIPC_OK) fprintf(stderr, "to client %d: %s\n", k, mapipc_last_error());
    }
}

/* Takes every queued client message: prints it and passes it on. A client
 * that says goodbye leaves. Returns how many left. */
static int serve_inbox(char *mem, int clients, int *here) {
    int left = 0;
    const void *msg;
    size_t len;
    while (mapipc_channel_peek(mem, &msg, &len, 0) == MAPIPC_OK) {
        const unsigned char *m = msg;
        int from = len > 0 ? m[0] : -1;
        if (from >= 0 && from < clients && len == 1) {
            printf("client %d left\n", from);
            here[from] = 0;
            left++;
            TRY(mapipc_channel_close(mem + INBOX + (size_t)from * OUTBOX));
        } else if (from >= 0 && from < clients) {
            char line[LINE + 32];
            int n = snprintf(line, sizeof line, "client %d: %.*s", from, (int)(len - 1), (const char *)m + 1);
            printf("%s\n", line);
            pass_on(mem, clients, here, from, line, (size_t)n);
        }
        TRY(mapipc_channel_release(mem));
    }
    fflush(stdout);
    return left;
}

static int serve(const char *path, int clients) {
    char *mem = open_chat(path, clients);
    int here[MAX_CLIENTS];
    for (int k = 0; k < clients; k++) here[k] = 1;
    int fd = -1;
    TRY(mapipc_channel_fd(mem, &fd));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    struct epoll_event in = {.events = EPOLLIN, .data.fd = 0};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in)) {
        perror("epoll");
        return 1;
    }
    int remaining = clients, input = 1;
    char line[LINE];
    while (remaining > 0 || input) {
        struct epoll_event got;
        int n = epoll_wait(ep, &got, 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1) break;
        if (got.data.fd == fd) {
            remaining -= serve_inbox(mem, clients, here);
        } else {
            ssize_t r = read(0, line, sizeof line - 1);
            if (r <= 0) {
                input = 0;
                epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
                continue;
            }
            char out[LINE + 16];
            int k = snprintf(out, sizeof out, "server: %.*s", (int)strcspn(line, "\n"), line);
            printf("%s\n", out);
            fflush(stdout);
            pass_on(mem, clients, here, -1, out, (size_t)k);
        }
    }
    close(ep);
    close(fd);
    TRY(mapipc_unmap(mem));
    return 0;
}

/* Prints what the server sends this client until it closes the channel. */
static void *print_back(void *chan) {
    char line[LINE + 32];
    size_t len;
    mapipc_status st;
    while ((st = mapipc_channel_recv(chan, line, sizeof line, &len, -1)) == MAPIPC_OK) {
        printf("%.*s\n", (int)len, line);
        fflush(stdout);
    }
    if (st != MAPIPC_ERR_CLOSED) fprintf(stderr, "receive: %s\n", mapipc_last_error());
    return NULL;
}

static int client(const char *path, int id) {
    char *mem = open_chat(path, id + 1);
    pthread_t t;
    if (pthread_create(&t, NULL, print_back, mem + INBOX + (size_t)id * OUTBOX) != 0) return 1;
    char line[LINE];
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strcspn(line, "\n");
        void *buf = NULL;
        TRY(mapipc_channel_reserve(mem, len + 1, -1, &buf));
        ((char *)buf)[0] = (char)id;
        memcpy((char *)buf + 1, line, len);
        TRY(mapipc_channel_commit(mem, len + 1));
    }
    char bye = (char)id;
    TRY(mapipc_channel_send(mem, &bye, 1, -1));
    pthread_join(t, NULL);
    TRY(mapipc_unmap(mem));
    return 0;
}

int main(int argc, char **argv) {
    int n = argc == 4 ? atoi(argv[3]) : -1;
    if (argc == 4 && strcmp(argv[2], "serve") == 0 && n > 0 && n <= MAX_CLIENTS) return serve(argv[1], n);
    if (argc == 4 && strcmp(argv[2], "client") == 0 && n >= 0 && n < MAX_CLIENTS) return client(argv[1], n);
    fprintf(stderr, "usage: %s FILE serve CLIENTS | %s FILE client ID\n", argv[0], argv[0]);
    return 2;
}
