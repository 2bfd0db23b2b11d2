/* Message contents both ends of a channel test agree on: message i has a
 * length and bytes derived from i alone, so a receiver checks every byte
 * without being told what was sent. */
#ifndef MAPIPC_CHANNEL_UTIL_H
#define MAPIPC_CHANNEL_UTIL_H

#include <stdint.h>
#include <string.h>

#include "mapipc.h"

enum { MIXED_MAX = 3 * 1024 };

/* Offsets in the channel header that tests watch to know what the other
 * side is doing (docs/channel-format.md); only tests read them. */
enum { CHAN_SENDER_PID = 68, CHAN_RECV_SLEEPING = 320, CHAN_SEND_SLEEPING = 324, CHAN_HEADER = 384 };

static inline uint32_t chan_field(const void *chan, int offset) {
    return __atomic_load_n((const uint32_t *)((const char *)chan + offset), __ATOMIC_ACQUIRE);
}

static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Length of message i: 0..MIXED_MAX, with many small ones and some empty. */
static inline size_t mixed_len(uint32_t i) {
    uint32_t r = mix32(i);
    switch (r & 3) {
    case 0: return r >> 28;            /* 0..15 */
    case 1: return (r >> 8) % 256;     /* 0..255 */
    default: return (r >> 8) % (MIXED_MAX + 1);
    }
}

static inline void mixed_fill(uint32_t i, unsigned char *buf, size_t len) {
    uint32_t seed = mix32(i ^ 0x9e3779b9u);
    for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)(seed + k * 131u);
}

/* 1 if buf holds exactly message i. */
static inline int mixed_check(uint32_t i, const unsigned char *buf, size_t len) {
    if (len != mixed_len(i)) return 0;
    uint32_t seed = mix32(i ^ 0x9e3779b9u);
    for (size_t k = 0; k < len; k++)
        if (buf[k] != (unsigned char)(seed + k * 131u)) return 0;
    return 1;
}

/* Sends messages first .. first + count - 1; returns the first failing
 * status (MAPIPC_OK if all went). */
static inline mapipc_status send_mixed(void *chan, uint32_t first, uint32_t count) {
    static unsigned char buf[MIXED_MAX];
    for (uint32_t i = first; i < first + count; i++) {
        size_t len = mixed_len(i);
        mixed_fill(i, buf, len);
        mapipc_status st = mapipc_channel_send(chan, buf, len, -1);
        if (st != MAPIPC_OK) return st;
    }
    return MAPIPC_OK;
}

/* Receives `count` messages and checks each is message first + k; returns
 * how many were right before the first wrong one or failure. */
static inline uint32_t recv_mixed(void *chan, uint32_t first, uint32_t count, int64_t timeout) {
    static unsigned char buf[MIXED_MAX];
    for (uint32_t k = 0; k < count; k++) {
        size_t len = 0;
        if (mapipc_channel_recv(chan, buf, sizeof buf, &len, timeout) != MAPIPC_OK) return k;
        if (!mixed_check(first + k, buf, len)) return k;
    }
    return count;
}

#endif
