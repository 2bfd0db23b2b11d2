//! What can be asked of a live region: how to sync it and how it will be
//! used. Plain values; the region applies them.

/// How `msync` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `MS_SYNC`: return when the data is written.
    Blocking,
    /// `MS_ASYNC`: schedule the write-back.
    Async,
}

/// A complete sync request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    pub mode: SyncMode,
    /// Also `MS_INVALIDATE`.
    pub invalidate: bool,
}

impl SyncOptions {
    pub const BLOCKING: SyncOptions = SyncOptions {
        mode: SyncMode::Blocking,
        invalidate: false,
    };

    pub(crate) fn msync_flags(&self) -> libc::c_int {
        let mode = match self.mode {
            SyncMode::Blocking => libc::MS_SYNC,
            SyncMode::Async => libc::MS_ASYNC,
        };
        if self.invalidate {
            mode | libc::MS_INVALIDATE
        } else {
            mode
        }
    }
}

/// How a range of a region will be used (`madvise`). Only advice that
/// never discards data is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// No special treatment (`MADV_NORMAL`).
    Normal,
    /// Read ahead aggressively, drop behind (`MADV_SEQUENTIAL`).
    Sequential,
    /// No read-ahead (`MADV_RANDOM`).
    Random,
    /// Start reading the range in now (`MADV_WILLNEED`).
    WillNeed,
    /// Map every page now, readable, so reads take no faults
    /// (`MADV_POPULATE_READ`, Linux 5.14).
    PopulateRead,
    /// Map every page now, writable (`MADV_POPULATE_WRITE`, Linux 5.14).
    PopulateWrite,
}

impl Advice {
    pub(crate) fn madvise_value(self) -> libc::c_int {
        match self {
            Advice::Normal => libc::MADV_NORMAL,
            Advice::Sequential => libc::MADV_SEQUENTIAL,
            Advice::Random => libc::MADV_RANDOM,
            Advice::WillNeed => libc::MADV_WILLNEED,
            Advice::PopulateRead => libc::MADV_POPULATE_READ,
            Advice::PopulateWrite => libc::MADV_POPULATE_WRITE,
        }
    }
}
