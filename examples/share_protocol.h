/* What share_server and share_client agree on: where the two channels lie
 * in the region the server sends, and how a socket name is spelled. */
#ifndef SHARE_PROTOCOL_H
#define SHARE_PROTOCOL_H

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

enum {
    SHARE_CHANNEL_SIZE = 16384,
    SHARE_TO_SERVER = 0,                  /* the client sends here */
    SHARE_TO_CLIENT = SHARE_CHANNEL_SIZE, /* the server answers here */
    SHARE_REGION_SIZE = 2 * SHARE_CHANNEL_SIZE,
    SHARE_LINE = 256,
};

/* "@name": the abstract namespace (no file anywhere); else a path. */
static inline int share_address(const char *name, struct sockaddr_un *addr, socklen_t *len) {
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof addr->sun_path) return -1;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, name, n);
    if (name[0] == '@') addr->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1));
    return 0;
}

#endif
