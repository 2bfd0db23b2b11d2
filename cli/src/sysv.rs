//! System V segments by id, through the raw calls: the library names
//! segments by ftok path, the command by key and id as ipcs(1) does.
//! Reading attaches a segment read-only for the copy and detaches it.

/// `SHM_DEST` in `shm_perm.mode`: marked for deletion.
pub const SHM_DEST: u32 = 0o1000;

/// Every segment id the kernel lists, in its order.
pub fn ids() -> Vec<i32> {
    let text = std::fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let Some(col) = header.iter().position(|&h| h == "shmid") else {
        return Vec::new();
    };
    lines
        .filter_map(|l| l.split_whitespace().nth(col)?.parse().ok())
        .collect()
}

/// The id of the segment with `key`. Key 0 is IPC_PRIVATE, which shmget
/// would take as a request for a new segment.
pub fn id_of_key(key: i32) -> Result<i32, String> {
    if key == 0 {
        return Err(
            "key 0x00000000 is IPC_PRIVATE, shared by many segments: name one by id:N".into(),
        );
    }
    // SAFETY: shmget with size 0 and no IPC_CREAT only looks a key up.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        return Err(format!("key {:#010x}: {}", key as u32, last_error()));
    }
    Ok(id)
}

/// IPC_STAT of segment `id`.
pub fn stat(id: i32) -> Result<libc::shmid_ds, String> {
    // SAFETY: shmid_ds is plain data, valid all zero.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one shmid_ds into ds.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } < 0 {
        return Err(format!("id:{id}: {}", last_error()));
    }
    Ok(ds)
}

/// Marks segment `id` for deletion: it goes when the last process detaches.
pub fn remove(id: i32) -> Result<(), String> {
    // SAFETY: IPC_RMID takes no buffer.
    if unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(format!("id:{id}: cannot remove: {}", last_error()));
    }
    Ok(())
}

/// A copy of `len` bytes from `offset` of segment `id` (already bounded by
/// its size).
pub fn read(id: i32, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    // SAFETY: a read-only attach anywhere the kernel chooses.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return Err(format!(
            "id:{id}: cannot attach it to read: {}",
            last_error()
        ));
    }
    let mut buf = vec![0u8; len];
    // SAFETY: the caller bounded offset + len by the segment's size, which
    // never changes, and the attach covers all of it. memcpy, not a Rust
    // copy: other processes may write these bytes meanwhile.
    unsafe {
        libc::memcpy(
            buf.as_mut_ptr().cast(),
            addr.cast::<u8>().add(offset as usize).cast(),
            len,
        );
        libc::shmdt(addr);
    }
    Ok(buf)
}

fn last_error() -> String {
    crate::object::cause(&std::io::Error::last_os_error())
}
