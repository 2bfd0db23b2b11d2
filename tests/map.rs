//! The safe Rust API, used directly (no C in between).

use std::io::Read;
use std::path::PathBuf;

use mapipc::map::{anon, file};
use mapipc::shm::posix as posix_shm;
use mapipc::{Access, Advice, Create, ErrorKind, MapOptions, Sharing, SyncOptions};

/// A scratch directory removed when dropped, even if the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mapipc-core-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn create_write_sync_and_read_back() {
    let dir = Scratch::new("rw");
    let path = dir.path("data");
    let opts = MapOptions::read_write().create(Create::IfMissing);
    let region = file::map_file(&path, 10, 5000, opts).unwrap();
    assert_eq!(region.len(), 5000);
    // SAFETY: the region maps 5000 writable bytes and nothing else uses them.
    unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), region.as_ptr(), 5) };
    region.sync(0, 0, SyncOptions::BLOCKING).unwrap();
    region.advise(0, 0, Advice::Sequential).unwrap();
    region.unmap().map_err(|(_, e)| e).unwrap();

    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes.len(), 5010);
    assert_eq!(&bytes[10..15], b"hello");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn errors_have_kinds_errnos_and_messages() {
    let dir = Scratch::new("err");
    let missing = dir.path("missing");
    let err = file::map_file(&missing, 0, 10, MapOptions::read_only()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.errno(), libc::ENOENT);
    assert!(err.to_string().contains("missing"), "{err}");

    std::fs::write(dir.path("short"), b"abc").unwrap();
    let err = file::map_file(&dir.path("short"), 0, 10, MapOptions::read_only()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfRange);
    assert_eq!(err.errno(), libc::ENXIO);

    let err = file::map_file(&dir.0, 0, 0, MapOptions::read_only()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotMappable);

    let err = anon::map_anonymous(0, Access::ReadWrite, Sharing::Shared).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn anonymous_and_posix_regions() {
    let region = anon::map_anonymous(10_000, Access::ReadWrite, Sharing::Private).unwrap();
    // SAFETY: 10_000 writable zeroed bytes owned by this test.
    unsafe {
        assert_eq!(*region.as_ptr().add(9_999), 0);
        *region.as_ptr() = 1;
    }
    assert_eq!(
        region
            .sync(9_999, 2, SyncOptions::BLOCKING)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfRange
    );
    drop(region);

    let name = posix_shm::name(&format!("/mapipc-core-{}", std::process::id())).unwrap();
    // Unlinks the object even if an assertion below fails.
    struct Unlink<'a>(&'a std::ffi::CStr);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = posix_shm::unlink_name(self.0);
        }
    }
    let _cleanup = Unlink(&name);
    let opts = MapOptions::read_write().create(Create::Exclusive);
    let region = posix_shm::open_name(&name, 4096, opts).unwrap();
    let again = posix_shm::open_name(&name, 4096, opts).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    posix_shm::unlink_name(&name).unwrap();
    drop(region);
    assert_eq!(
        posix_shm::unlink_name(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
