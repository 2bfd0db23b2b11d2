/* A channel whose header was written by something other than mapipc (a
 * buggy or hostile peer): a size below the minimum, positions that are
 * misaligned, too far apart, reversed or absurd; a channel re-initialised
 * in place with another size; and the 32-bit frame length on a channel
 * bigger than 4 GiB. Every call must refuse with INVALID_ARGUMENT and
 * touch nothing outside the channel: never a crash, never a wrong answer. */
#include <stdint.h>

#include "channel_util.h"
#include "check.h"

/* Offsets of the documented layout (docs/channel-format.md). */
enum { CHAN_IDENT = 0, CHAN_HEAD_SEEN = 72, CHAN_TAIL = 128, CHAN_TAIL_SEEN = 200, CHAN_HEAD = 256 };

static uint64_t *field64(void *chan, int offset) { return (uint64_t *)((char *)chan + offset); }

static uint64_t ident_of(uint64_t size) { return (0x4d504332ULL << 32) | (size / 64); }

/* Sizes in the ident below 4096 bytes (64: capacity would wrap; 384:
 * capacity 0; 4032: just below the minimum) are not a channel. */
static void ident_below_minimum(void) {
    static const uint64_t sizes[] = {64, 384, 448, 4032};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        void *r = NULL;
        CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_READ | MAPIPC_WRITE, &r));
        REQUIRE(r != NULL);
        *field64(r, CHAN_IDENT) = ident_of(sizes[k]);
        /* A message 1 MiB long claimed at position 0, tail far ahead. */
        *field64(r, CHAN_TAIL) = 1 << 20;
        uint64_t frame = (uint64_t)65536 | ((uint64_t)(uint32_t)~65536u << 32);
        memcpy((char *)r + CHAN_HEADER, &frame, 8);
        size_t mm = 12345;
        CHECK_STATUS(mapipc_channel_max_message(r, &mm), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        CHECK_MESSAGE("less than the 4096");
        CHECK(mm == 0); /* out-values are emptied on failure */
        static char msg[1 << 16];
        CHECK_STATUS(mapipc_channel_send(r, msg, sizeof msg, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        CHECK_STATUS(mapipc_channel_send(r, msg, 8, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        static char buf[1 << 16];
        size_t got = 777;
        CHECK_STATUS(mapipc_channel_recv(r, buf, sizeof buf, &got, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
        CHECK(got == 777 || got == 0);
        CHECK(buf[0] == 0 && buf[sizeof buf - 1] == 0);
        /* The bytes after the header are as written: nothing was sent. */
        CHECK(memcmp((char *)r + CHAN_HEADER, &frame, 8) == 0);
        CHECK_OK(mapipc_unmap(r));
    }
}

/* A size the region cannot hold is out of range, not followed. */
static void ident_past_region(void) {
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    *field64(r, CHAN_IDENT) = ident_of(1 << 20);
    size_t mm = 0;
    CHECK_STATUS(mapipc_channel_max_message(r, &mm), MAPIPC_ERR_OUT_OF_RANGE, 0);
    char buf[64];
    size_t got = 0;
    CHECK_STATUS(mapipc_channel_recv(r, buf, sizeof buf, &got, 0), MAPIPC_ERR_OUT_OF_RANGE, 0);
    CHECK_OK(mapipc_unmap(r));
}

/* A 4096-byte channel followed by user data; positions set to `head`,
 * `tail`: send and recv must refuse and leave the data after it alone. */
static void refuse_positions(uint64_t head, uint64_t tail) {
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    unsigned char *b = r;
    CHECK_OK(mapipc_channel_init(r, 4096));
    memset(b + 4096, 0x11, 4096);
    *field64(r, CHAN_HEAD) = head;
    *field64(r, CHAN_HEAD_SEEN) = head;
    *field64(r, CHAN_TAIL) = tail;
    *field64(r, CHAN_TAIL_SEEN) = tail;
    CHECK_STATUS(mapipc_channel_send(r, "", 0, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    CHECK_MESSAGE("is damaged");
    CHECK_STATUS(mapipc_channel_send(r, "abcdefghijklmnop", 16, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    char buf[4096];
    size_t got = 0;
    CHECK_STATUS(mapipc_channel_recv(r, buf, sizeof buf, &got, 0), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    CHECK_MESSAGE("is damaged");
    /* The positions are as written: nothing was published or consumed. */
    CHECK(*field64(r, CHAN_TAIL) == tail);
    CHECK(*field64(r, CHAN_HEAD) == head);
    int clean = 1;
    for (int i = 4096; i < 8192; i++)
        if (b[i] != 0x11) clean = 0;
    CHECK(clean);
    CHECK_OK(mapipc_unmap(r));
}

static void misaligned_positions(void) {
    uint64_t cap = 4096 - 384; /* 3712 */
    refuse_positions(cap - 4, cap - 4);     /* frame header across the ring's end */
    refuse_positions(cap - 4, cap + 4);     /* a frame header read across it */
    refuse_positions(3, 3);
    refuse_positions(8, 12);
    refuse_positions(64, 72);               /* frames start at multiples of 64 */
}

static void positions_too_far_apart(void) {
    uint64_t cap = 4096 - 384;
    refuse_positions(0, cap + 64);         /* more queued than the ring holds */
    refuse_positions(64, 0);               /* head past tail */
    refuse_positions(0, UINT64_MAX - 7);   /* absurd: would overflow */
    refuse_positions(UINT64_MAX - 7, 8);   /* wraps to 16 "queued" bytes */
    refuse_positions((1ULL << 62), (1ULL << 62) + 8);
}

/* The sender's own cached head_seen damaged, head itself fine: the send
 * looks at head again and succeeds. */
static void damaged_head_seen_is_reread(void) {
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_channel_init(r, 4096));
    *field64(r, CHAN_HEAD_SEEN) = 5;
    CHECK_OK(mapipc_channel_send(r, "hello", 5, 0));
    char buf[16];
    size_t got = 0;
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &got, 0));
    CHECK(got == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_OK(mapipc_unmap(r));
}

/* A channel used by this thread, then zeroed and made again with another
 * size at the same address: calls see the new size, not a remembered one. */
static void reinit_in_place_sees_new_size(void) {
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(16384, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_channel_init(r, 16384));
    size_t mm = 0;
    CHECK_OK(mapipc_channel_max_message(r, &mm));
    CHECK(mm == (16384 - 384 - 64) / 2 / 64 * 64);
    CHECK_OK(mapipc_channel_send(r, "x", 1, 0));
    memset(r, 0, 16384);
    CHECK_OK(mapipc_channel_init(r, 4096));
    CHECK_OK(mapipc_channel_max_message(r, &mm));
    CHECK(mm == (4096 - 384 - 64) / 2 / 64 * 64);
    static char big[8000];
    CHECK_STATUS(mapipc_channel_send(r, big, sizeof big, 0), MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK_OK(mapipc_unmap(r));
}

/* The frame keeps a message's length in 32 bits: a channel of more than
 * 4 GiB still carries at most UINT32_MAX bytes (rounded down to 64) a
 * message, and never more than half its ring. */
static void max_message_fits_the_frame(void) {
    if (sizeof(size_t) < 8) return;
    if (skip_under(UNDER_VALGRIND, "a 5 GiB mapping")) return;
    size_t size = (size_t)5 << 30;
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(size, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_channel_init(r, 0));
    size_t mm = 0;
    CHECK_OK(mapipc_channel_max_message(r, &mm));
    size_t half = ((size - 384 - 64) / 2) & ~(size_t)63;
    CHECK(mm == (half < (UINT32_MAX & ~(size_t)63) ? half : (UINT32_MAX & ~(size_t)63)));
    /* Too large at once, before a byte is read: the region itself serves
     * as a (readable) message buffer. */
    CHECK_STATUS(mapipc_channel_send(r, (char *)r + 4096, (size_t)UINT32_MAX + 1, 0),
                 MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK_OK(mapipc_channel_send(r, "ok", 2, 0));
    char buf[4];
    size_t got = 0;
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &got, 0));
    CHECK(got == 2 && memcmp(buf, "ok", 2) == 0);
    CHECK_OK(mapipc_unmap(r));
}

int main(void) {
    RUN(ident_below_minimum);
    RUN(ident_past_region);
    RUN(misaligned_positions);
    RUN(positions_too_far_apart);
    RUN(damaged_head_seen_is_reread);
    RUN(reinit_in_place_sees_new_size);
    RUN(max_message_fits_the_frame);
    return check_done();
}
