//! Typed options for mapping requests. Contradictions (exclusive without
//! create, neither read nor write) cannot be expressed here; the C layer
//! rejects them while decoding its flag bits.

/// What the caller may do with the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Whether writes reach the file / other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Writes are seen by every process mapping the same object.
    Shared,
    /// Copy-on-write: writes stay in this process.
    Private,
}

/// What to do when the file or segment is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// It must exist.
    Never,
    /// Create it (mode 0600) if missing; extend a short file.
    IfMissing,
    /// Create it; fail with `AlreadyExists` if it is there.
    Exclusive,
}

/// A complete mapping request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    pub access: Access,
    pub sharing: Sharing,
    pub create: Create,
    /// Survive the file shrinking underneath: vanished pages read as zeros,
    /// stores to them are dropped, and the next sync reports it (files
    /// only; see `guard`).
    pub guarded: bool,
}

impl MapOptions {
    /// Shared, read-only, must exist.
    pub const fn read_only() -> MapOptions {
        MapOptions {
            access: Access::ReadOnly,
            sharing: Sharing::Shared,
            create: Create::Never,
            guarded: false,
        }
    }

    /// Shared, read-write, must exist.
    pub const fn read_write() -> MapOptions {
        MapOptions {
            access: Access::ReadWrite,
            sharing: Sharing::Shared,
            create: Create::Never,
            guarded: false,
        }
    }

    pub const fn private(mut self) -> MapOptions {
        self.sharing = Sharing::Private;
        self
    }

    pub const fn create(mut self, create: Create) -> MapOptions {
        self.create = create;
        self
    }

    pub const fn guarded(mut self) -> MapOptions {
        self.guarded = true;
        self
    }

    pub(crate) fn prot(&self) -> libc::c_int {
        match self.access {
            Access::ReadOnly => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }

    pub(crate) fn map_flags(&self) -> libc::c_int {
        match self.sharing {
            Sharing::Shared => libc::MAP_SHARED,
            Sharing::Private => libc::MAP_PRIVATE,
        }
    }
}

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
