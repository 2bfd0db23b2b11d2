//! Open-file-description locks over a whole object (`F_OFD_*`): owned by
//! the description, so shared by `fork` and dropped when its last
//! descriptor closes, whoever closes it and however the process ends.

use std::os::fd::{AsRawFd, BorrowedFd};

fn whole(ty: libc::c_int) -> libc::flock {
    // SAFETY: flock is plain integers; all-zero is a valid value (and l_pid
    // must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock) -> Result<(), i32> {
    loop {
        // SAFETY: fd is open; fl is a valid flock the kernel reads (and, for
        // F_OFD_GETLK, writes).
        if unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock) } == 0 {
            return Ok(());
        }
        match errno::errno().0 {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Takes a read lock now (the creator's: nobody else can hold one yet).
pub(super) fn try_read(fd: BorrowedFd<'_>) -> Result<(), i32> {
    fcntl_lock(fd, libc::F_OFD_SETLK, &mut whole(libc::F_RDLCK))
}

/// Takes a read lock, waiting while a remover holds the write lock.
pub(super) fn wait_read(fd: BorrowedFd<'_>) -> Result<(), i32> {
    fcntl_lock(fd, libc::F_OFD_SETLKW, &mut whole(libc::F_RDLCK))
}

/// Takes the write lock if no other description holds any lock.
pub(super) fn try_write(fd: BorrowedFd<'_>) -> Result<(), i32> {
    fcntl_lock(fd, libc::F_OFD_SETLK, &mut whole(libc::F_WRLCK))
}

/// The type of a lock another description holds (`F_RDLCK`: a user,
/// `F_WRLCK`: a remover), or None. Works on a read-only descriptor and
/// takes nothing.
pub(super) fn probe(fd: BorrowedFd<'_>) -> Result<Option<libc::c_short>, i32> {
    let mut fl = whole(libc::F_WRLCK);
    fcntl_lock(fd, libc::F_OFD_GETLK, &mut fl)?;
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(fl.l_type))
}
