//! The C ABI. Each export checks its pointers, runs its body inside
//! [`boundary::call`] (which catches panics and reports errors as status +
//! errno + thread-local message), and calls into the safe core.

pub mod boundary;
pub mod channel;
pub mod flags;
pub mod guard;
pub mod map;
pub mod shm;
pub mod status;
pub mod sync;
