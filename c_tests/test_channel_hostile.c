/* A many-sender channel (format version 2) whose frame headers and
 * positions were written by a hostile or buggy peer, read as an attacker
 * would: every send must end (damage reported, or the caller's timeout)
 * and write nothing through a forged frame. Each case arms a short
 * watchdog alarm: before the fixes these sends spun forever. */
#include <stdint.h>

#include "channel_util.h"
#include "check.h"

enum { CHAN_TAIL = 128, CHAN_HEAD = 256, SIZE = 4096, CAPACITY = SIZE - CHAN_HEADER };

static uint64_t *field64(void *chan, int offset) { return (uint64_t *)((char *)chan + offset); }

/* The first 64 bits of the frame header at position `pos`. */
static uint64_t *frame_word(void *chan, uint64_t pos) {
    return field64(chan, CHAN_HEADER + (int)(pos % CAPACITY));
}

/* A many-sender channel in a region twice its size, holding one 5-byte
 * message (its frame is 128 bytes: tail 128). */
static void *many_with_one(void) {
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(2 * SIZE, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_channel_init_with(r, SIZE, MAPIPC_CHANNEL_MANY_SENDERS));
    CHECK_OK(mapipc_channel_send(r, "hello", 5, -1));
    REQUIRE(*field64(r, CHAN_TAIL) == 128);
    return r;
}

/* head past tail while tail stands still is damage, not "others claimed
 * meanwhile, look again" (which spun forever, whatever the timeout). */
static void head_past_tail_is_damage(void) {
    alarm(10);
    void *r = many_with_one();
    *field64(r, CHAN_HEAD) = 192;
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, 50000000), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    CHECK_MESSAGE("is damaged");
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, -1), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    void *buf = NULL;
    CHECK_STATUS(mapipc_channel_reserve(r, 8, 0, &buf), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    CHECK(*field64(r, CHAN_TAIL) == 128 && *field64(r, CHAN_HEAD) == 192);
    CHECK_OK(mapipc_unmap(r));
}

/* A frame header at tail that no sender writes (published, a free header
 * of another position, a state with both high bits and a thread id):
 * damage, and the channel is left as it was. */
static void garbage_at_tail_is_damage(void) {
    alarm(10);
    static const uint64_t forged[] = {
        0x80000000u,                    /* published, at tail */
        0,                              /* free, tagged for position 0 */
        (uint64_t)7 << 32,              /* free, tagged for position 448 */
        0xc0001234u,                    /* not a state at all */
    };
    for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
        void *r = many_with_one();
        *frame_word(r, 128) = forged[k];
        static unsigned char before[SIZE];
        memcpy(before, r, SIZE);
        CHECK_STATUS(mapipc_channel_send(r, "x", 1, -1), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        CHECK_MESSAGE("is damaged");
        CHECK(memcmp(before, r, SIZE) == 0);
        /* The message before it is still delivered whole. */
        char buf[16] = {0};
        size_t n = 0;
        CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &n, 0));
        CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
        CHECK_OK(mapipc_unmap(r));
    }
}

/* A thread id at tail looks like a claim under way: a sender waits for it
 * to move tail, but no longer than its timeout (the claimer may be
 * stopped, or the id forged). */
static void forged_claim_at_tail_ends_at_timeout(void) {
    alarm(10);
    void *r = many_with_one();
    *frame_word(r, 128) = 0x12345;
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, 20000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, 0), MAPIPC_ERR_TIMED_OUT, 0);
    void *buf = NULL;
    CHECK_STATUS(mapipc_channel_reserve(r, 8, 20000000, &buf), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK(*frame_word(r, 128) == 0x12345 && *field64(r, CHAN_TAIL) == 128);
    CHECK_OK(mapipc_unmap(r));
}

/* A "dead claimer" at tail whose claimed frame cannot fit (it would wrap
 * onto queued messages, or is longer than any message): taking it over
 * wrote a free frame header into a queued message's bytes. */
static void dead_claim_that_cannot_fit_is_damage(void) {
    alarm(10);
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(2 * SIZE, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_channel_init_with(r, SIZE, MAPIPC_CHANNEL_MANY_SENDERS));
    static unsigned char a[1700], b[1000];
    memset(a, 0xaa, sizeof a);
    memset(b, 0xbb, sizeof b);
    CHECK_OK(mapipc_channel_send(r, a, sizeof a, -1)); /* frame 0..1792 */
    CHECK_OK(mapipc_channel_send(r, b, sizeof b, -1)); /* frame 1792..2880 */
    REQUIRE(*field64(r, CHAN_TAIL) == 2880);
    static const uint64_t claims[] = {1024, 0xffffffc0u};
    for (size_t k = 0; k < 2; k++) {
        *frame_word(r, 2880) = claims[k] << 32 | 0x40000000u;
        static unsigned char before[SIZE];
        memcpy(before, r, SIZE);
        CHECK_STATUS(mapipc_channel_send(r, "x", 1, -1), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        CHECK_MESSAGE("is damaged");
        CHECK(memcmp(before, r, SIZE) == 0);
    }
    static unsigned char got[2048];
    size_t n = 0;
    CHECK_OK(mapipc_channel_recv(r, got, sizeof got, &n, 0));
    CHECK(n == sizeof a && memcmp(got, a, sizeof a) == 0);
    CHECK_OK(mapipc_channel_recv(r, got, sizeof got, &n, 0));
    CHECK(n == sizeof b && memcmp(got, b, sizeof b) == 0);
    CHECK_OK(mapipc_unmap(r));
}

/* A dead claimer's frame that does fit is still taken over and passed:
 * the next message arrives after it. */
static void dead_claim_that_fits_is_passed(void) {
    alarm(10);
    void *r = many_with_one();
    *frame_word(r, 128) = (uint64_t)100 << 32 | 0x40000000u;
    CHECK_OK(mapipc_channel_send(r, "xyz", 3, -1));
    CHECK(*field64(r, CHAN_TAIL) == 128 + 64 + 128 + 128);
    char buf[16] = {0};
    size_t n = 0;
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &n, 0));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &n, 0));
    CHECK(n == 3 && memcmp(buf, "xyz", 3) == 0);
    CHECK_OK(mapipc_unmap(r));
}

int main(void) {
    RUN(head_past_tail_is_damage);
    RUN(garbage_at_tail_is_damage);
    RUN(forged_claim_at_tail_ends_at_timeout);
    RUN(dead_claim_that_cannot_fit_is_damage);
    RUN(dead_claim_that_fits_is_passed);
    return check_done();
}
