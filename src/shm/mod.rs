//! Shared memory found by name: POSIX objects in /dev/shm ([`posix`]) and
//! System V segments found by key ([`sysv`]). Owns naming, creating and
//! removing them; the mapping itself is [`crate::map`]'s, and this module
//! must not know what lives inside the memory.

pub mod posix;
pub mod sysv;
