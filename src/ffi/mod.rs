//! The C ABI. Each export checks its pointers, runs its body inside
//! `boundary::call` (which catches panics and reports errors as status +
//! errno + thread-local message), and calls into the safe core. One file
//! per concern of the core; nothing here decides behaviour.

pub mod boundary;
pub mod channel;
pub mod error;
pub mod flags;
pub mod guard;
pub mod lifecycle;
pub mod map;
pub mod region;
pub mod share;
pub mod shm;
pub mod sync;
