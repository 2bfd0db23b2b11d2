//! The robust mutex and wait/wake through the safe Rust API, between
//! threads (the C tests cover processes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use mapipc::map::anon;
use mapipc::sync::{self, Acquired, SharedMutex, Timeout};
use mapipc::{Access, ErrorKind, Sharing};

#[test]
fn threads_race_init_and_count_exactly() {
    let region = anon::map_anonymous(4096, Access::ReadWrite, Sharing::Shared).unwrap();
    let counter = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let m = SharedMutex::in_region(&region, 64).unwrap();
                m.init().unwrap();
                for _ in 0..10_000 {
                    assert_eq!(m.lock(Timeout::Never).unwrap(), Acquired::Clean);
                    // A plain load and store: only exact under the lock.
                    let v = counter.load(Ordering::Relaxed);
                    counter.store(v + 1, Ordering::Relaxed);
                    m.unlock().unwrap();
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), 40_000);
}

#[test]
fn a_thread_that_ends_holding_the_lock_is_reported() {
    let region = anon::map_anonymous(4096, Access::ReadWrite, Sharing::Shared).unwrap();
    let m = SharedMutex::in_region(&region, 0).unwrap();
    m.init().unwrap();
    // A plain join, not a scope: a scope ends when the closure returns, a
    // join only once the thread is gone (and the kernel has marked it).
    let addr = m as *const SharedMutex as usize;
    thread::spawn(move || {
        // SAFETY: the region outlives this thread, which is joined below.
        let m = unsafe { &*(addr as *const SharedMutex) };
        assert_eq!(m.lock(Timeout::Never).unwrap(), Acquired::Clean);
    })
    .join()
    .unwrap();
    assert_eq!(m.lock(Timeout::Poll).unwrap(), Acquired::OwnerDied);
    assert_eq!(
        m.lock(Timeout::Poll).unwrap_err().kind(),
        ErrorKind::Deadlock
    );
    m.consistent().unwrap();
    m.unlock().unwrap();
    assert_eq!(m.lock(Timeout::Poll).unwrap(), Acquired::Clean);
    m.unlock().unwrap();
    assert_eq!(m.unlock().unwrap_err().kind(), ErrorKind::PermissionDenied);
}

#[test]
fn placement_is_checked() {
    let region = anon::map_anonymous(100, Access::ReadWrite, Sharing::Shared).unwrap();
    assert_eq!(
        SharedMutex::in_region(&region, 4).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        SharedMutex::in_region(&region, 40).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    let m = SharedMutex::in_region(&region, 32).unwrap();
    assert_eq!(
        m.lock(Timeout::Poll).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let ro = anon::map_anonymous(100, Access::ReadOnly, Sharing::Shared).unwrap();
    assert_eq!(
        SharedMutex::in_region(&ro, 0).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn wait_and_wake_between_threads() {
    let region = anon::map_anonymous(4096, Access::ReadWrite, Sharing::Private).unwrap();
    let word = sync::word_in_region(&region, 8).unwrap();
    let scope = sync::scope_of(&region.info());
    let err = sync::wait(word, 0, Timeout::Poll, scope).unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::TimedOut, libc::EAGAIN)
    );
    thread::scope(|s| {
        s.spawn(|| {
            while word.load(Ordering::Acquire) == 0 {
                sync::wait(word, 0, Timeout::Never, scope).unwrap();
            }
        });
        word.store(1, Ordering::Release);
        sync::wake(word, u32::MAX, scope).unwrap();
    });
}

#[test]
fn a_region_holding_a_locked_mutex_stays_mapped() {
    let region = anon::map_anonymous(4096, Access::ReadWrite, Sharing::Shared).unwrap();
    let addr = {
        let m = SharedMutex::in_region(&region, 0).unwrap();
        m.init().unwrap();
        m.lock(Timeout::Poll).unwrap();
        m as *const SharedMutex as usize
    };
    let (region, err) = region.unmap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy);
    // Dropped while the lock is held: the mapping stays, leaked.
    drop(region);
    // SAFETY: the drop above left the mapping in place (the point of the
    // test); the mutex in it is still this thread's.
    let m = unsafe { &*(addr as *const SharedMutex) };
    m.unlock().unwrap();
    let region = anon::map_anonymous(4096, Access::ReadWrite, Sharing::Shared).unwrap();
    let m = SharedMutex::in_region(&region, 0).unwrap();
    m.init().unwrap();
    m.lock(Timeout::Poll).unwrap();
    m.unlock().unwrap();
    region.unmap().map_err(|(_, e)| e).unwrap();
}
