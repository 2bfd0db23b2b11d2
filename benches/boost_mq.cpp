/* make bench: many sender processes into one Boost.Interprocess
 * message_queue, the same processes and messages as the channel's row.
 * Built only by make bench; without Boost's headers it compiles to a stub
 * that says so (boost_mq.h). */
#include "boost_mq.h"

#if __has_include(<boost/interprocess/ipc/message_queue.hpp>)

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/wait.h>
#include <unistd.h>

namespace bip = boost::interprocess;

namespace {

/* As many 64-byte messages as the channel's 256 KiB ring holds payload. */
const std::size_t MSG = 64, SLOTS = 4096, MAX_SENDERS = 8;

double seconds() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

[[noreturn]] void fail(const char *what) {
    std::fprintf(stderr, "boost message_queue: %s\n", what);
    std::exit(2);
}

/* A child's life: send, never return into the parent's code. */
[[noreturn]] void sender(bip::message_queue &q, std::size_t count) {
    try {
        char msg[MSG] = "many";
        for (std::size_t i = 0; i < count; i++) q.send(msg, sizeof msg, 0);
    } catch (const bip::interprocess_exception &) {
        _exit(1);
    }
    _exit(0);
}

double receive_all(bip::message_queue &q, std::size_t total) {
    char msg[MSG];
    bip::message_queue::size_type len;
    unsigned prio;
    double t0 = seconds();
    for (std::size_t i = 0; i < total; i++) {
        q.receive(msg, sizeof msg, len, prio);
        if (len != MSG) fail("short message");
    }
    return seconds() - t0;
}

} // namespace

int boost_mq_available(void) { return 1; }

double boost_mq_many_senders(std::size_t senders, std::size_t count) {
    if (senders > MAX_SENDERS) fail("too many senders");
    char name[64];
    std::snprintf(name, sizeof name, "mapipc-bench-mq-%d", (int)getpid());
    bip::message_queue::remove(name);
    double t = 0;
    try {
        bip::message_queue q(bip::create_only, name, SLOTS, MSG, bip::permissions(0600));
        pid_t pids[MAX_SENDERS];
        for (std::size_t k = 0; k < senders; k++) {
            std::fflush(stdout);
            pids[k] = fork();
            if (pids[k] < 0) fail("fork");
            if (pids[k] == 0) sender(q, count);
        }
        t = receive_all(q, senders * count);
        for (std::size_t k = 0; k < senders; k++) {
            int st;
            if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("a sender failed");
        }
    } catch (const bip::interprocess_exception &e) {
        bip::message_queue::remove(name);
        fail(e.what());
    }
    bip::message_queue::remove(name);
    return (double)(senders * count) / t / 1e6;
}

#else

int boost_mq_available(void) { return 0; }

double boost_mq_many_senders(size_t senders, size_t count) {
    (void)senders;
    (void)count;
    return -1;
}

#endif
