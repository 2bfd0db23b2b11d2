//! Copies that survive a file shrinking, and guarded regions, through the
//! safe Rust API.

use std::path::PathBuf;

use mapipc::map::file;
use mapipc::{guard, Create, ErrorKind, MapOptions, SyncOptions};

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("mapipc-guard-{name}-{}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn read_and_write_report_truncation() {
    let f = TempFile::new("copy");
    let opts = MapOptions::read_write().create(Create::IfMissing);
    let region = file::map_file(&f.0, 0, 3 * 4096, opts).unwrap();
    guard::write(&region, 4096, b"hello").unwrap();
    let mut buf = [0u8; 5];
    guard::read(&region, 4096, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f.0)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let err = guard::read(&region, 4096, &mut buf).unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::Truncated, libc::EFAULT)
    );
    assert!(
        err.message().contains("now 4096 bytes long"),
        "{}",
        err.message()
    );
    assert_eq!(
        guard::write(&region, 8190, b"abc").unwrap_err().kind(),
        ErrorKind::Truncated
    );
    guard::read(&region, 4090, &mut buf[..2]).unwrap();
    assert_eq!(
        guard::read(&region, 3 * 4096 - 2, &mut buf)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(std::fs::metadata(&f.0).unwrap().len(), 4096);
}

#[test]
fn guarded_region_reads_zeros_and_sync_reports_the_loss() {
    let f = TempFile::new("guarded");
    let opts = MapOptions::read_write().create(Create::IfMissing).guarded();
    let region = file::map_file(&f.0, 0, 2 * 4096, opts).unwrap();
    // SAFETY: the region maps 8192 writable bytes used by nothing else.
    unsafe { region.as_ptr().add(4096).write_volatile(7) };
    region.sync(0, 0, SyncOptions::BLOCKING).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f.0)
        .unwrap()
        .set_len(10)
        .unwrap();
    // SAFETY: as above; the vanished page is replaced with zeros.
    assert_eq!(unsafe { region.as_ptr().add(4096).read_volatile() }, 0);
    let err = region.sync(0, 0, SyncOptions::BLOCKING).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated);
    region.unmap().unwrap();
}
