//! Temporary objects through the Rust API: what `lifetime` and `collect`
//! report, without disturbing the objects they look at.

use std::os::fd::AsFd;

use mapipc::lifecycle::{self, Lifetime};
use mapipc::map::file;
use mapipc::shm::posix as posix_shm;
use mapipc::{Create, ErrorKind, MapOptions};

#[test]
fn a_temporary_object_in_use_is_neither_stale_nor_collected() {
    let name = posix_shm::name(&format!("/mapipc-core-life-{}", std::process::id())).unwrap();
    let path = format!("/dev/shm{}", name.to_str().unwrap());
    let opts = MapOptions::read_write()
        .create(Create::Exclusive)
        .temporary();
    let region = posix_shm::open_name(&name, 4096, opts).unwrap();
    let seen = std::fs::File::open(&path).unwrap();
    assert_eq!(
        lifecycle::lifetime(seen.as_fd()).unwrap(),
        Lifetime::Temporary { stale: false }
    );
    let listed = lifecycle::collect(true).unwrap();
    assert!(!listed.iter().any(|p| p.as_os_str() == path.as_str()));
    // Looking took no lock: the last unmap still removes it at once.
    drop(region);
    assert!(std::fs::metadata(&path).is_err());
    // The description we hold now has no user: stale.
    assert_eq!(
        lifecycle::lifetime(seen.as_fd()).unwrap(),
        Lifetime::Temporary { stale: true }
    );
}

#[test]
fn a_plain_file_is_permanent_and_options_are_checked() {
    let dir = std::env::temp_dir().join(format!("mapipc-core-life-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plain");
    let opts = MapOptions::read_write()
        .create(Create::IfMissing)
        .mode(0o640);
    let region = file::map_file(&path, 0, 100, opts).unwrap();
    let seen = std::fs::File::open(&path).unwrap();
    assert_eq!(
        lifecycle::lifetime(seen.as_fd()).unwrap(),
        Lifetime::Permanent
    );
    drop(region);
    assert!(path.exists());
    for bad in [
        MapOptions::read_write().mode(0o600),
        MapOptions::read_write().temporary(),
        MapOptions::read_write()
            .create(Create::IfMissing)
            .mode(0o4600),
    ] {
        let err = file::map_file(&path, 0, 100, bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
