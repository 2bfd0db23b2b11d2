/* The Boost.Interprocess message_queue baseline of make bench's channel
 * group, in C++ (boost_mq.cpp), callable from the C harness. */
#ifndef MAPIPC_BENCH_BOOST_MQ_H
#define MAPIPC_BENCH_BOOST_MQ_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the bench was built with Boost's headers (make bench-deps
 * installs Debian's libboost-dev when it can), else 0: leave the rows out. */
int boost_mq_available(void);
/* `senders` processes each send `count` 64-byte messages into one
 * message_queue, this process receives them all; million messages/s.
 * Exits the process with status 2 on any failure. */
double boost_mq_many_senders(size_t senders, size_t count);

#ifdef __cplusplus
}
#endif

#endif
