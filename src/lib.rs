//! mapipc: memory-mapped files and shared memory on Linux with every misuse
//! turned into an error.
//!
//! The modules at the top are a safe Rust API that knows nothing of C:
//! [`file::map_file`], [`anon::map_anonymous`], the shared-memory modules,
//! all returning an owning [`Region`]. [`registry`] is the process-wide
//! address table that lets C name regions by pointer. [`sync`] holds the
//! objects that live inside regions and coordinate processes (a robust
//! mutex, wait/wake). `ffi` is the C ABI.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod anon;
pub mod channel;
pub mod error;
pub mod file;
pub mod guard;
pub mod options;
mod place;
pub mod posix_shm;
pub mod region;
pub mod registry;
pub mod sync;
mod sys;
pub mod sysv;

#[allow(non_camel_case_types)]
pub mod ffi;

pub use error::{Error, ErrorKind, Result};
pub use options::{Access, Advice, Create, MapOptions, Sharing, SyncMode, SyncOptions};
pub use region::{Backing, Region, RegionInfo};
pub use sys::page_size;
