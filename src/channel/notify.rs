//! A descriptor that event loops can wait on: readable exactly while a
//! receive on the channel would not wait.
//!
//! A process that asks for one gets a duplicate of an eventfd of its own,
//! driven by a helper thread in that same process: the thread sleeps on
//! the channel's data word (waiting for a message) or room word (waiting
//! for the queue to empty) like a side would, with a bit of its own, and
//! sets or drains the eventfd. Senders and receivers of any process and
//! any user wake it through the shared memory alone, by the same futex
//! words they already look at; while no descriptor exists those words stay
//! zero and send/recv make no system call. One thread and one eventfd per
//! channel and process, until the channel's region is unmapped.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

use super::layout::HELPER_WAITS;
use super::{peer, Channel, Header};
use crate::error::{Error, Result};
use crate::region::{registry, RegionInfo};
use crate::sync::futex::{self, Deadline, Scope, Timeout};

/// How long the helper sleeps at most before looking again (the sender's
/// process may have exited, the region may be going).
const SLICE: Duration = Duration::from_millis(100);

/// Helpers running in this process: send and recv look here only if not 0.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static HELPERS: Mutex<Vec<Arc<Helper>>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// What a helper thread and this process share.
struct Helper {
    /// The channel's address, and what is needed to look at it.
    chan: usize,
    capacity: u64,
    many: bool,
    scope: Scope,
    /// The eventfd the descriptors duplicate.
    efd: i32,
    /// The process that started the thread (a forked child has none).
    pid: u32,
    /// Set, under `touching`, when the region goes: the thread stops
    /// before it touches the channel again.
    stop: AtomicBool,
    touching: Mutex<()>,
}

fn helpers() -> MutexGuard<'static, Vec<Arc<Helper>>> {
    HELPERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The list's guard, held by the thread calling fork() for the length of
/// the fork. Only that thread touches the slot, between taking the lock
/// and giving it back, so the lock itself keeps two forks apart. A static,
/// not a thread-local: the library's TLS block has a fixed budget.
struct ForkSlot(UnsafeCell<Option<MutexGuard<'static, Vec<Arc<Helper>>>>>);

// SAFETY: the slot is used only under the lock whose guard it holds.
unsafe impl Sync for ForkSlot {}

static FORKING: ForkSlot = ForkSlot(UnsafeCell::new(None));

/// A child must not inherit the list locked by a thread that is not there
/// (a receive in the parent settling a descriptor): its next receive would
/// wait for it forever. The forking thread holds it across the fork.
extern "C" fn before_fork() {
    let guard = helpers();
    // SAFETY: this thread holds the lock; see ForkSlot.
    unsafe { *FORKING.0.get() = Some(guard) };
}

extern "C" fn after_fork() {
    // SAFETY: before_fork on this thread (in the child: its copy) filled
    // the slot and holds the lock; dropping the guard unlocks it.
    drop(unsafe { (*FORKING.0.get()).take() });
}

/// Once per process, when the first descriptor is asked for (before that
/// no helper exists and the list is never locked by send or recv).
fn set_hooks() {
    registry::set_unmap_hook(stop_helpers_in);
    // SAFETY: plain functions that live as long as the library; a failure
    // (ENOMEM) only loses the fork protection.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
}

impl Channel<'_> {
    /// A new descriptor (close-on-exec, the caller closes it) that poll,
    /// select and epoll see readable while a receive would not wait.
    pub fn descriptor(&self) -> Result<i32> {
        descriptor(self)
    }
}

fn descriptor(ch: &Channel<'_>) -> Result<i32> {
    HOOK.call_once(set_hooks);
    let me = peer::my_pid();
    let mut list = helpers();
    list.retain(|h| h.pid == me || forget_inherited(h));
    let helper = match list.iter().find(|h| h.chan == ch.addr()) {
        Some(h) => h.clone(),
        None => {
            let h = start(ch, me)?;
            list.push(h.clone());
            ACTIVE.fetch_add(1, Ordering::SeqCst);
            h
        }
    };
    // SAFETY: efd is this process's open eventfd; F_DUPFD_CLOEXEC makes a
    // new descriptor for the caller.
    let fd = unsafe { libc::fcntl(helper.efd, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("cannot duplicate the channel's descriptor"));
    }
    Ok(fd)
}

/// A helper copied by fork from the parent: its thread is not here.
fn forget_inherited(h: &Helper) -> bool {
    // SAFETY: the child's copy of the parent's eventfd, used by nothing else.
    unsafe { libc::close(h.efd) };
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    false
}

fn start(ch: &Channel<'_>, pid: u32) -> Result<Arc<Helper>> {
    // SAFETY: eventfd takes an initial count and flags.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(Error::last_os("cannot make an eventfd for the channel"));
    }
    let helper = Arc::new(Helper {
        chan: ch.addr(),
        capacity: ch.capacity,
        many: ch.many,
        scope: ch.scope,
        efd,
        pid,
        stop: AtomicBool::new(false),
        touching: Mutex::new(()),
    });
    let theirs = helper.clone();
    let spawned = std::thread::Builder::new()
        .name("mapipc-chan-fd".into())
        .stack_size(64 * 1024)
        .spawn(move || run(&theirs));
    if let Err(e) = spawned {
        // SAFETY: the eventfd made above, shared with no one yet.
        unsafe { libc::close(efd) };
        return Err(Error::from_os(
            e.raw_os_error().unwrap_or(libc::EAGAIN),
            format_args!("cannot start the thread behind the channel's descriptor"),
        ));
    }
    Ok(helper)
}

impl Helper {
    /// The channel, while `touching` is held and `stop` is not set.
    fn channel(&self) -> Channel<'_> {
        Channel {
            // SAFETY: the region holding the channel is live: its unmap
            // sets `stop` under `touching` first (stop_helpers_in).
            hdr: unsafe { &*(self.chan as *const Header) },
            ring: (self.chan + super::HEADER) as *mut u8,
            capacity: self.capacity,
            many: self.many,
            scope: self.scope,
        }
    }

    /// Makes the eventfd readable or not, as the channel is: drains it, then
    /// sets it again if the channel is ready (so a racing update by another
    /// thread never leaves it drained while ready).
    fn settle(&self, ch: &Channel<'_>) -> bool {
        if ch.would_not_wait() {
            self.signal();
            return true;
        }
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into count from this helper's eventfd.
        unsafe { libc::read(self.efd, (&mut count as *mut u64).cast(), 8) };
        let ready = ch.would_not_wait();
        if ready {
            self.signal();
        }
        ready
    }

    fn signal(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to the eventfd.
        unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
    }
}

/// The helper thread: keeps the eventfd in step with the channel.
fn run(helper: &Helper) {
    block_signals();
    loop {
        let (word, value, ready) = {
            let _touching = helper.touching.lock().unwrap_or_else(|e| e.into_inner());
            if helper.stop.load(Ordering::SeqCst) {
                break;
            }
            let ch = helper.channel();
            let ready = helper.settle(&ch);
            // Ready: wait for receives to empty it. Not: wait for a message.
            let word: &AtomicU32 = if ready {
                &ch.hdr.room_waiters
            } else {
                &ch.hdr.data_waiters
            };
            let value = word.fetch_or(HELPER_WAITS, Ordering::SeqCst) | HELPER_WAITS;
            if ch.would_not_wait() != ready {
                continue;
            }
            (word as *const AtomicU32, value, ready)
        };
        let _ = ready;
        // SAFETY: the word lies in the channel; if the region went since,
        // the wait fails with EFAULT (or, remapped, times out) and the next
        // round sees `stop`.
        let word = unsafe { &*word };
        futex::wait(
            word,
            value,
            &Deadline::after(Timeout::After(SLICE)),
            helper.scope,
        );
    }
    // SAFETY: the helper's eventfd; the duplicates handed out stay open.
    unsafe { libc::close(helper.efd) };
}

/// Signals meant for the process go to its other threads.
fn block_signals() {
    // SAFETY: a zeroed sigset filled by sigfillset, applied to this thread.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// Before a region's pages go: stops the helpers of channels inside it.
fn stop_helpers_in(info: &RegionInfo) {
    if ACTIVE.load(Ordering::SeqCst) == 0 {
        return;
    }
    let (start, len) = (info.base_addr(), info.map_len());
    let me = peer::my_pid();
    let mut list = helpers();
    list.retain(|h| {
        if h.chan.wrapping_sub(start) >= len {
            return true;
        }
        if h.pid != me {
            // Inherited through fork: its thread is not here, and its
            // `touching` may have been copied locked.
            return forget_inherited(h);
        }
        let _touching = h.touching.lock().unwrap_or_else(|e| e.into_inner());
        h.stop.store(true, Ordering::SeqCst);
        let ch = h.channel();
        for word in [&ch.hdr.data_waiters, &ch.hdr.room_waiters] {
            let _ = futex::wake(word, u32::MAX, h.scope);
        }
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        false
    });
}

/// After a receive in this process: the descriptor stops being readable
/// at once if the queue is now empty (not a few microseconds later, when
/// the helper has run).
#[inline]
pub(crate) fn after_receive(ch: &Channel<'_>) {
    if ACTIVE.load(Ordering::Relaxed) != 0 {
        settle_here(ch);
    }
}

#[cold]
fn settle_here(ch: &Channel<'_>) {
    let me = peer::my_pid();
    let found = helpers()
        .iter()
        .find(|h| h.chan == ch.addr() && h.pid == me)
        .cloned();
    if let Some(h) = found {
        h.settle(ch);
    }
}

impl Channel<'_> {
    /// Whether a receive would not wait: a message is queued, the channel
    /// is closed, or (one sender) the sender's process has exited.
    pub(crate) fn would_not_wait(&self) -> bool {
        let hdr = self.hdr;
        if self.is_closed() {
            return true;
        }
        if self.many {
            return self.has_message_many();
        }
        hdr.tail.load(Ordering::SeqCst) != hdr.head.load(Ordering::SeqCst)
            || peer::is_gone_lately(hdr.sender_id.load(Ordering::Relaxed))
    }
}
