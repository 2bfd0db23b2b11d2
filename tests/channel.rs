//! The channel through the safe Rust API, between threads (the C tests
//! cover processes, deaths and every argument error).

use std::thread;

use mapipc::channel::{Channel, Received};
use mapipc::map::anon;
use mapipc::sync::Timeout;
use mapipc::{Access, ErrorKind, Sharing};

#[test]
fn messages_arrive_whole_in_order_then_closed() {
    let region = anon::map_anonymous(16384, Access::ReadWrite, Sharing::Shared).unwrap();
    let ch = Channel::init_in(&region, 0, 0).unwrap();
    assert_eq!(
        ch.max_message(),
        (16384 - mapipc::channel::HEADER - 64) / 2 / 64 * 64
    );
    thread::scope(|s| {
        s.spawn(|| {
            let tx = Channel::open_in(&region, 0).unwrap();
            for i in 0..10_000u32 {
                let msg = vec![(i % 251) as u8; (i % 300) as usize];
                tx.send(&msg, Timeout::Never).unwrap();
            }
            tx.close().unwrap();
        });
        let mut buf = [0u8; 512];
        for i in 0..10_000u32 {
            let n = match ch.recv(&mut buf, Timeout::Never).unwrap() {
                Received::Message(n) => n,
                Received::TooSmall(n) => panic!("{n} bytes do not fit"),
            };
            assert_eq!(n, (i % 300) as usize);
            assert!(buf[..n].iter().all(|&b| b == (i % 251) as u8));
        }
        let err = ch.recv(&mut buf, Timeout::Never).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed);
    });
}

#[test]
fn small_buffers_and_sizes() {
    let region = anon::map_anonymous(8192, Access::ReadWrite, Sharing::Private).unwrap();
    let ch = Channel::init_in(&region, 0, 4096).unwrap();
    let too_big = vec![0u8; ch.max_message() + 1];
    assert_eq!(
        ch.send(&too_big, Timeout::Poll).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    ch.send(b"hello", Timeout::Poll).unwrap();
    let mut small = [0u8; 2];
    assert_eq!(
        ch.recv(&mut small, Timeout::Poll).unwrap(),
        Received::TooSmall(5)
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        ch.recv(&mut buf, Timeout::Poll).unwrap(),
        Received::Message(5)
    );
    assert_eq!(&buf[..5], b"hello");
    let err = ch.recv(&mut buf, Timeout::Poll).unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::TimedOut, libc::EAGAIN)
    );
    assert_eq!(
        Channel::init_in(&region, 0, 8192).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Channel::init_in(&region, 4096, 1000).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Channel::open_in(&region, 4096).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Channel::init_in(&region, 8, 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Channel::init_in(&region, 8192, 0).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
}

#[test]
fn zero_copy_and_many_senders_between_threads() {
    let region = anon::map_anonymous(65536, Access::ReadWrite, Sharing::Shared).unwrap();
    let ch = Channel::init_with_in(&region, 0, 0, true).unwrap();
    assert!(ch.is_many_senders());
    thread::scope(|s| {
        for t in 0..3u8 {
            let region = &region;
            s.spawn(move || {
                let tx = Channel::open_in(region, 0).unwrap();
                for i in 0..2000u32 {
                    let buf = tx.reserve(5, Timeout::Never).unwrap();
                    let msg = [t, (i >> 16) as u8, (i >> 8) as u8, i as u8, 0xaa];
                    // SAFETY: reserve returned 5 writable bytes.
                    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), buf, 5) };
                    tx.commit(4).unwrap();
                }
            });
        }
        let mut next = [0u32; 3];
        for _ in 0..6000 {
            let (at, len) = ch.peek(Timeout::Never).unwrap();
            assert_eq!(len, 4);
            // SAFETY: peek returned len readable bytes, valid until release.
            let m = unsafe { std::slice::from_raw_parts(at, len) };
            let t = m[0] as usize;
            let i = u32::from(m[1]) << 16 | u32::from(m[2]) << 8 | u32::from(m[3]);
            assert_eq!(i, next[t]);
            next[t] += 1;
            ch.release().unwrap();
        }
        assert_eq!(next, [2000; 3]);
    });
    assert_eq!(ch.release().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(ch.cancel().unwrap_err().kind(), ErrorKind::InvalidArgument);
}
