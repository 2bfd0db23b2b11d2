//! mapipc: memory-mapped files and shared memory on Linux with every misuse
//! turned into an error.
//!
//! The crate is a safe Rust core that knows nothing of C, in layers that
//! only ever call down, and a thin C ABI on top:
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | the error kinds and messages every layer reports |
//! | `sys` | small libc helpers: page size, C paths, /proc lookups |
//! | [`region`] | what a live mapping is ([`Region`]), syncing and advice, where it is placed, and the [`region::registry`] that names regions by address |
//! | [`guard`] | surviving a file that shrinks under its mapping: the SIGBUS handler, fault-stoppable copies, guarded regions |
//! | [`lifecycle`] | objects that vanish with their last user: the temporary marker, users' locks, removal, garbage collection in /dev/shm |
//! | [`map`] | making regions: files and anonymous memory, with their options |
//! | [`shm`] | shared memory by name: POSIX names and System V keys |
//! | [`sync`] | objects inside shared regions: a robust mutex and wait/wake |
//! | [`channel`] | a message channel through a shared region |
//! | [`share`] | no names at all: memfd regions with sealed sizes, mapping any descriptor, passing regions over UNIX sockets (above `sync`, whose timeouts it uses) |
//! | `ffi` | the C ABI: pointer checks, panics caught, errors as status + errno + message |
//!
//! A region shared with a child process, with a lock inside it:
//!
//! ```
//! use mapipc::map::anon::map_anonymous;
//! use mapipc::sync::{Acquired, SharedMutex, Timeout};
//! use mapipc::{Access, Sharing};
//!
//! let region = map_anonymous(4096, Access::ReadWrite, Sharing::Shared)?;
//! let lock = SharedMutex::in_region(&region, 0)?;
//! lock.init()?;
//! assert_eq!(lock.lock(Timeout::Never)?, Acquired::Clean);
//! // SAFETY: bytes 64.. of the region are ours, and the lock is held.
//! unsafe { region.as_ptr().add(64).write(42) };
//! lock.unlock()?;
//! # Ok::<(), mapipc::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod channel;
pub mod error;
pub mod guard;
pub mod lifecycle;
pub mod map;
pub mod region;
pub mod share;
pub mod shm;
pub mod sync;
mod sys;

#[allow(non_camel_case_types)]
pub mod ffi;

pub use error::{Error, ErrorKind, Result};
pub use map::options::{Access, Create, MapOptions, Sharing};
pub use region::options::{Advice, SyncMode, SyncOptions};
pub use region::{Backing, Region, RegionInfo};
pub use sys::page_size;
