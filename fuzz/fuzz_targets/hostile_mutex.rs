//! A mutex whose 64 bytes a hostile peer writes before and during lock,
//! trylock (lock with timeout 0), unlock and consistent, from this thread
//! and another. The library must return a documented status within the
//! call's timeout and touch nothing outside the 64 bytes (the last of a
//! one-page region between PROT_NONE pages, the bytes before them poisoned).
//!
//! The input is a list of operations, one byte each and its arguments
//! after it: a new operation of the API is one more arm in `step`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapipc_fuzz::*;

fn mutex() -> Fenced {
    static MUTEX: OnceLock<Fenced> = OnceLock::new();
    *MUTEX.get_or_init(|| Fenced::shared(page()).tail(64))
}

fuzz_target!(|data: &[u8]| {
    on_fresh_thread(|| {
        let m = mutex();
        m.zero();
        // SAFETY: the mutex's bytes lie in a live mapipc region.
        let st = unsafe { mapipc_mutex_init(m.ptr()) };
        assert_eq!(st, OK, "init of zeroed memory");
        let mut input = Input::new(data);
        while !input.is_empty() {
            step(m, &mut input, true);
        }
    });
});

/// One operation; `race`: it may be run while the peer writes.
fn step(m: Fenced, input: &mut Input, race: bool) {
    // SAFETY (every call below): a pointer value; the library checks it.
    match input.u8() % 6 {
        0 => {
            let (offset, bytes) = input.scribble();
            m.scribble(offset, bytes);
        }
        1 if race => {
            let (offset, bytes) = input.scribble();
            while_hostile(m, offset, bytes, || step(m, input, false));
        }
        2 => {
            let timeout = input.timeout_ns();
            let st = timed("lock", timeout, || unsafe {
                mapipc_mutex_lock(m.ptr(), timeout)
            });
            let allowed = [
                OK,
                ERR_OWNER_DIED,
                ERR_NOT_RECOVERABLE,
                ERR_TIMED_OUT,
                ERR_DEADLOCK,
                ERR_INVALID_ARGUMENT,
            ];
            expect_one_of("lock", st, &allowed);
        }
        3 => {
            let st = unsafe { mapipc_mutex_unlock(m.ptr()) };
            let allowed = [
                OK,
                ERR_NOT_RECOVERABLE,
                ERR_PERMISSION_DENIED,
                ERR_INVALID_ARGUMENT,
            ];
            expect_one_of("unlock", st, &allowed);
        }
        4 => {
            let st = unsafe { mapipc_mutex_consistent(m.ptr()) };
            let allowed = [
                OK,
                ERR_PERMISSION_DENIED,
                ERR_INVALID_ARGUMENT,
                ERR_NOT_RECOVERABLE,
            ];
            expect_one_of("consistent", st, &allowed);
        }
        _ => {
            let st = unsafe { mapipc_mutex_init(m.ptr()) };
            expect_one_of("init", st, &[OK, ERR_INVALID_ARGUMENT]);
        }
    }
}
