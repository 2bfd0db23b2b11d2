//! A channel whose shared bytes (header and ring) a hostile peer writes
//! before and during send, recv, close and init. The library must return
//! a documented status within the call's timeout, and touch nothing
//! outside the channel or the caller's buffers (PROT_NONE pages and ASan
//! poisoning around each; the channel fills its region, as the library
//! bounds the size a header claims by the region, not by what init said).
//!
//! The input is a list of operations, one byte each and its arguments
//! after it: a new operation of the API is one more arm in `step`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapipc_fuzz::*;

/// Two pages: small enough for the fuzzer to reach every byte, large
/// enough for messages that wrap the ring.
const SIZE: usize = 8192;

#[derive(Debug)]
struct World {
    chan: Fenced,
    /// Messages sent end at its guard page.
    msg: Fenced,
    /// Messages received end at its guard page.
    buf: Fenced,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World {
        chan: Fenced::shared(SIZE),
        msg: Fenced::private(SIZE),
        buf: Fenced::private(SIZE),
    })
}

fuzz_target!(|data: &[u8]| {
    on_fresh_thread(|| {
        let w = world();
        w.chan.zero();
        // SAFETY: the channel's bytes lie in a live mapipc region.
        let st = unsafe { mapipc_channel_init(w.chan.ptr(), SIZE) };
        assert_eq!(st, OK, "init of zeroed memory");
        let mut input = Input::new(data);
        while !input.is_empty() {
            step(w, &mut input, true);
        }
    });
});

/// One operation; `race`: it may be run while the peer writes.
fn step(w: &World, input: &mut Input, race: bool) {
    match input.u8() % 7 {
        0 => {
            let (offset, bytes) = input.scribble();
            w.chan.scribble(offset, bytes);
        }
        1 if race => {
            let (offset, bytes) = input.scribble();
            while_hostile(w.chan, offset, bytes, || step(w, input, false));
        }
        2 => send(w, usize::from(input.u16()) % (SIZE + 1), input.timeout_ns()),
        3 => recv(w, usize::from(input.u16()) % (SIZE + 1), input.timeout_ns()),
        4 => {
            // SAFETY: a pointer value; the library checks it.
            let st = unsafe { mapipc_channel_close(w.chan.ptr()) };
            expect_one_of("close", st, &[OK, ERR_INVALID_ARGUMENT, ERR_OUT_OF_RANGE]);
        }
        5 => {
            let size = [SIZE, 0, 4096, 4032][usize::from(input.u8() & 3)];
            // SAFETY: as above.
            let st = unsafe { mapipc_channel_init(w.chan.ptr(), size) };
            expect_one_of("init", st, &[OK, ERR_INVALID_ARGUMENT, ERR_OUT_OF_RANGE]);
        }
        _ => {
            let mut max = usize::MAX;
            // SAFETY: max is writable.
            let st = unsafe { mapipc_channel_max_message(w.chan.ptr(), &mut max) };
            expect_one_of(
                "max_message",
                st,
                &[OK, ERR_INVALID_ARGUMENT, ERR_OUT_OF_RANGE],
            );
            assert!(
                st != OK || max < SIZE,
                "max_message {max} for a {SIZE}-byte channel"
            );
        }
    }
}

/// What send and recv may return; a header a peer damaged is
/// INVALID_ARGUMENT, or OUT_OF_RANGE if its size reaches past the region.
const ALLOWED: [Status; 7] = [
    OK,
    ERR_TOO_LARGE,
    ERR_CLOSED,
    ERR_BUSY,
    ERR_TIMED_OUT,
    ERR_INVALID_ARGUMENT,
    ERR_OUT_OF_RANGE,
];

fn send(w: &World, len: usize, timeout: i64) {
    let msg = (w.msg.addr + w.msg.len - len) as *const _;
    // SAFETY: msg is readable for len bytes (the last ones of w.msg).
    let st = timed("send", timeout, || unsafe {
        mapipc_channel_send(w.chan.ptr(), msg, len, timeout)
    });
    expect_one_of("send", st, &ALLOWED);
}

fn recv(w: &World, cap: usize, timeout: i64) {
    let buf = (w.buf.addr + w.buf.len - cap) as *mut _;
    let mut got = usize::MAX;
    // SAFETY: buf is writable for cap bytes (the last ones of w.buf).
    let st = timed("recv", timeout, || unsafe {
        mapipc_channel_recv(w.chan.ptr(), buf, cap, &mut got, timeout)
    });
    expect_one_of("recv", st, &ALLOWED);
    match st {
        OK => assert!(got <= cap, "recv: {got} bytes into {cap}"),
        ERR_TOO_LARGE => assert!(got > cap, "recv: too large, yet {got} <= {cap}"),
        _ => assert_eq!(got, 0, "recv: length {got} on failure {st}"),
    }
}
