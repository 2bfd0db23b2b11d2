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
    /// Exact permission bits (within 0o777) for an object this request
    /// creates, not filtered by the umask; `None`: 0600 filtered by it.
    pub mode: Option<u32>,
    /// An object this request creates is temporary: removed when its last
    /// user's mapping goes (POSIX names and files; see `lifecycle`).
    pub temporary: bool,
}

impl MapOptions {
    /// Shared, read-only, must exist.
    pub const fn read_only() -> MapOptions {
        MapOptions {
            access: Access::ReadOnly,
            sharing: Sharing::Shared,
            create: Create::Never,
            guarded: false,
            mode: None,
            temporary: false,
        }
    }

    /// Shared, read-write, must exist.
    pub const fn read_write() -> MapOptions {
        MapOptions {
            access: Access::ReadWrite,
            sharing: Sharing::Shared,
            create: Create::Never,
            guarded: false,
            mode: None,
            temporary: false,
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

    /// Permission bits for what this request creates (see the `mode` field).
    pub const fn mode(mut self, mode: u32) -> MapOptions {
        self.mode = Some(mode);
        self
    }

    /// What this request creates is temporary (see the `temporary` field).
    pub const fn temporary(mut self) -> MapOptions {
        self.temporary = true;
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
