//! Passing a region over a connected `AF_UNIX` socket: one message holding
//! the object's descriptor (`SCM_RIGHTS`) and a small versioned header
//! (offset, length, writable). Sending never leaves half a message behind;
//! receiving closes every descriptor that arrived and is not kept, and
//! believes the kernel (fstat, seals, access mode) over the header.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::fd::{map_owned, region_object};
use super::{Descriptor, Shown, SizeSeal};
use crate::error::{Error, ErrorKind, Result};
use crate::map::options::{Access, MapOptions};
use crate::region::{registry, Region};
use crate::sync::Timeout;

/// First bytes of every message: "mapipc region".
const MAGIC: [u8; 4] = *b"MPRG";
/// The header layout this code writes and reads.
const VERSION: u16 = 1;
/// Bytes of a version 1 message: magic, version, size, flags, offset,
/// length; little-endian. `size` lets a later version tell an older reader
/// how long its message is.
const MESSAGE_LEN: usize = 28;
/// Flag bit: the sender's region writes through to the object.
const WRITABLE: u32 = 1;
/// Descriptors one receive makes room for: more than one is refused, and
/// those that fit are closed (the kernel closes the ones that do not).
const MAX_FDS: usize = 4;

/// What a message says; the receiver checks it against the descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    offset: u64,
    length: u64,
    writable: bool,
}

impl Header {
    fn encode(&self) -> [u8; MESSAGE_LEN] {
        let mut m = [0u8; MESSAGE_LEN];
        m[0..4].copy_from_slice(&MAGIC);
        m[4..6].copy_from_slice(&VERSION.to_le_bytes());
        m[6..8].copy_from_slice(&(MESSAGE_LEN as u16).to_le_bytes());
        let flags = if self.writable { WRITABLE } else { 0 };
        m[8..12].copy_from_slice(&flags.to_le_bytes());
        m[12..20].copy_from_slice(&self.offset.to_le_bytes());
        m[20..28].copy_from_slice(&self.length.to_le_bytes());
        m
    }

    fn decode(m: &[u8; MESSAGE_LEN]) -> std::result::Result<Header, String> {
        let u16_at = |i: usize| u16::from_le_bytes([m[i], m[i + 1]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&m[i..i + 8]);
            u64::from_le_bytes(b)
        };
        if m[0..4] != MAGIC {
            return Err("it does not start with mapipc's magic bytes".into());
        }
        let (version, size) = (u16_at(4), u16_at(6));
        if version != VERSION || size as usize != MESSAGE_LEN {
            return Err(format!(
                "it is version {version} ({size} bytes); this mapipc reads version {VERSION}"
            ));
        }
        let flags = u32::from_le_bytes([m[8], m[9], m[10], m[11]]);
        if flags & !WRITABLE != 0 {
            return Err(format!("it has unknown flag bits {flags:#x}"));
        }
        let length = u64_at(20);
        if length == 0 {
            return Err("it describes a region of 0 bytes".into());
        }
        Ok(Header {
            offset: u64_at(12),
            length,
            writable: flags & WRITABLE != 0,
        })
    }
}

/// Sends the region that starts at `addr` over `sock`. The region stays
/// mapped. `TimedOut` (no room in time) means nothing was sent.
pub fn send_region(sock: BorrowedFd<'_>, addr: usize, timeout: Timeout) -> Result<()> {
    check_socket(sock)?;
    let shown = Sending(addr, sock.as_raw_fd());
    // First try: a shared writable region's own descriptor (O_RDWR, as its
    // mapping needed), sent while the registry keeps it open: no dup.
    match registry::with_start(addr, |region| try_kept(sock, region))? {
        Some(Ok(())) => return Ok(()),
        Some(Err(e)) if e != libc::EAGAIN && e != libc::EINTR => {
            return Err(socket_error(e, format!("cannot send {shown}")))
        }
        _ => {}
    }
    // Then with a descriptor of our own, waiting for room if need be.
    let obj = region_object(addr)?;
    let header = Header {
        offset: obj.offset,
        length: obj.len as u64,
        writable: obj.writable,
    };
    let deadline = Deadline::new(timeout);
    loop {
        match send_once(sock, &header.encode(), obj.fd.as_fd()) {
            Ok(()) => return Ok(()),
            Err(libc::EAGAIN) => wait_ready(sock, libc::POLLOUT, &deadline, || {
                format!("cannot send {shown}: the socket had no room")
            })?,
            Err(libc::EINTR) => {}
            Err(e) => return Err(socket_error(e, format!("cannot send {shown}"))),
        }
    }
}

/// One send of a shared writable region with the descriptor it keeps;
/// `None` for other regions (theirs may be open with more access than the
/// region allows, or there is none).
fn try_kept(sock: BorrowedFd<'_>, region: &Region) -> Option<std::result::Result<(), i32>> {
    let info = region.info();
    let (fd, offset) = region.object()?;
    if !info.is_writable() || info.is_private() {
        return None;
    }
    let header = Header {
        offset,
        length: info.len() as u64,
        writable: true,
    };
    Some(send_once(sock, &header.encode(), fd))
}

/// One `sendmsg` of the whole message, never blocking, never raising
/// SIGPIPE. A message this small is queued whole or not at all.
fn send_once(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: BorrowedFd<'_>,
) -> std::result::Result<(), i32> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut control = Control::new();
    // SAFETY: an all-zero msghdr is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msg_control points at `control`, aligned and large enough for
    // one header with one descriptor (msg_controllen says so), so
    // CMSG_FIRSTHDR is non-NULL and CMSG_DATA lies inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        libc::CMSG_DATA(cmsg)
            .cast::<RawFd>()
            .write_unaligned(fd.as_raw_fd());
    }
    // SAFETY: msg points at live buffers described by their lengths.
    let n = unsafe {
        libc::sendmsg(
            sock.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    match n {
        n if n < 0 => Err(errno::errno().0),
        n if n as usize == bytes.len() => Ok(()),
        // A stream socket queued part of it: cannot happen for a message
        // far smaller than any socket buffer; said plainly if it does.
        _ => Err(libc::EMSGSIZE),
    }
}

/// Control-message room for [`MAX_FDS`] descriptors (a 16-byte header
/// and their ints), after what a receiver may have asked the kernel to add
/// to every message before them: credentials (`SO_PASSCRED`, 32 bytes), a
/// pidfd (`SO_PASSPIDFD`, 24) and a security label (`SO_PASSSEC`).
const CONTROL_LEN: usize = 16 + MAX_FDS * std::mem::size_of::<RawFd>() + 32 + 24 + 256;

/// Control-message room, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

impl Control {
    fn new() -> Control {
        Control([0; CONTROL_LEN])
    }
}

/// `SCM_PIDFD` (Linux 6.5): a pidfd of the sender, installed in this
/// process with every message when the receiver set `SO_PASSPIDFD`.
const SCM_PIDFD: libc::c_int = 4;

/// Receives one region message from `sock` and maps the same bytes of the
/// same object with `opts` (checked by the caller before this call).
pub fn recv_region(
    sock: BorrowedFd<'_>,
    opts: MapOptions,
    seal: SizeSeal,
    timeout: Timeout,
) -> Result<Region> {
    let shown = Receiving(sock.as_raw_fd());
    let (header, fd) = receive(sock, &shown, &Deadline::new(timeout))?;
    if opts.access == Access::ReadWrite && !header.writable {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("cannot map {shown} for writing: the sender's region is read-only"),
        ));
    }
    let length = usize::try_from(header.length).map_err(|_| {
        Error::new(
            ErrorKind::NoSpace,
            format!(
                "cannot map {shown}: {} bytes do not fit in the address space",
                header.length
            ),
        )
    })?;
    map_owned(fd, &shown, header.offset, length, opts, seal)
}

/// Reads one whole message and its one descriptor. Every descriptor that
/// arrived is owned as soon as the kernel hands it over, so that any
/// failure closes it. The socket is looked at only when what arrived needs
/// it (a short read, no descriptor): a descriptor can only have come
/// through an `AF_UNIX` socket, and the common case saves two system calls.
fn receive(sock: BorrowedFd<'_>, shown: Shown, deadline: &Deadline) -> Result<(Header, OwnedFd)> {
    let mut bytes = [0u8; MESSAGE_LEN];
    let mut got = 0;
    let mut fds = Vec::new();
    while got < MESSAGE_LEN {
        match recv_once(sock, &mut bytes[got..], &mut fds) {
            Ok(Received::Bytes(n)) if got + n == MESSAGE_LEN => got += n,
            Ok(Received::Bytes(n)) => {
                // Short: the rest may follow on a stream, never in a record.
                if check_socket(sock)? != libc::SOCK_STREAM {
                    return Err(not_a_message(shown, "it is shorter than a region message"));
                }
                got += n;
            }
            Ok(Received::End) => {
                return Err(Error::new(
                    ErrorKind::Closed,
                    format!("cannot receive {shown}: the peer closed the connection"),
                ))
            }
            Ok(Received::Truncated(why)) => return Err(not_a_message(shown, why)),
            Err(libc::EAGAIN) if got == 0 => wait_ready(sock, libc::POLLIN, deadline, || {
                format!("cannot receive {shown}: nothing arrived")
            })?,
            Err(libc::EAGAIN) => wait_ready(sock, libc::POLLIN, deadline, String::new)
                .map_err(|_| not_a_message(shown, "it was cut short (the rest never came)"))?,
            Err(libc::EINTR) => {}
            Err(libc::EMFILE) => {
                return Err(Error::from_os_as(
                    ErrorKind::NoSpace,
                    libc::EMFILE,
                    format!(
                        "cannot receive {shown}: the descriptor that came with it could not be \
                         installed (the message is consumed)"
                    ),
                ))
            }
            Err(e) => return Err(socket_error(e, format!("cannot receive {shown}"))),
        }
    }
    if fds.is_empty() {
        // Say so if the socket could never carry a descriptor.
        check_socket(sock)?;
    }
    let header = Header::decode(&bytes).map_err(|why| not_a_message(shown, &why))?;
    let count = fds.len();
    match (fds.pop(), count) {
        (Some(fd), 1) => Ok((header, fd)),
        (None, _) => Err(not_a_message(shown, "no descriptor came with it")),
        _ => Err(not_a_message(
            shown,
            &format!("{count} descriptors came with it, not one"),
        )),
    }
}

enum Received {
    Bytes(usize),
    /// The peer closed (or shut down its side) before anything came.
    End,
    /// The kernel dropped part of it (descriptors or bytes).
    Truncated(&'static str),
}

/// One `recvmsg` without blocking; descriptors that came are pushed onto
/// `fds` (owned, `O_CLOEXEC`) before anything else is looked at.
fn recv_once(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> std::result::Result<Received, i32> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = Control::new();
    // SAFETY: an all-zero msghdr is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len();
    // SAFETY: msg points at live, writable buffers described by their
    // lengths; MSG_CMSG_CLOEXEC makes every arriving descriptor close-on-exec.
    let n = unsafe {
        libc::recvmsg(
            sock.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(errno::errno().0);
    }
    let before = fds.len();
    take_fds(&msg, fds);
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        // Truncated with no descriptor installed: this process has no room
        // for one (the kernel dropped it), not a peer sending too many.
        if fds.len() == before {
            return Err(libc::EMFILE);
        }
        return Ok(Received::Truncated(
            "it came with more descriptors than one",
        ));
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Ok(Received::Truncated("it is longer than a region message"));
    }
    Ok(match n {
        0 => Received::End,
        n => Received::Bytes(n as usize),
    })
}

/// Owns every descriptor of every `SCM_RIGHTS` control message in `msg`;
/// closes a pidfd (`SCM_PIDFD`) that came too.
fn take_fds(msg: &libc::msghdr, fds: &mut Vec<OwnedFd>) {
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR walk only the
    // msg_controllen bytes the kernel wrote, and each header's data holds
    // (cmsg_len - CMSG_LEN(0)) / sizeof(int) descriptors that the kernel
    // installed in this process for us alone.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let ty = (*cmsg).cmsg_type;
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (ty == libc::SCM_RIGHTS || ty == SCM_PIDFD)
            {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let bytes = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    let fd = OwnedFd::from_raw_fd(data.add(i).read_unaligned());
                    if ty == libc::SCM_RIGHTS {
                        fds.push(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// The socket's type, after checking it is a connected-kind `AF_UNIX`
/// socket (stream or seqpacket).
fn check_socket(sock: BorrowedFd<'_>) -> Result<libc::c_int> {
    let shown = Descriptor(sock.as_raw_fd());
    let domain = sockopt(sock, libc::SO_DOMAIN).map_err(|e| {
        let why = match e {
            libc::ENOTSOCK => "it is not a socket",
            libc::EBADF => "it is not an open descriptor",
            _ => "getsockopt failed",
        };
        Error::from_os_as(ErrorKind::InvalidArgument, e, format!("{shown}: {why}"))
    })?;
    let kind = sockopt(sock, libc::SO_TYPE)
        .map_err(|e| Error::from_os_as(ErrorKind::InvalidArgument, e, &shown))?;
    if domain != libc::AF_UNIX || (kind != libc::SOCK_STREAM && kind != libc::SOCK_SEQPACKET) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{shown} is not an AF_UNIX SOCK_STREAM or SOCK_SEQPACKET socket (domain {domain}, \
                 type {kind}): regions pass only between processes on this machine"
            ),
        ));
    }
    Ok(kind)
}

fn sockopt(sock: BorrowedFd<'_>, opt: libc::c_int) -> std::result::Result<libc::c_int, i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are writable and sized for an int option.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(errno::errno().0)
    } else {
        Ok(value)
    }
}

/// The region being sent, as messages name it.
struct Sending(usize, RawFd);

impl std::fmt::Display for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the region at {:#x} on socket {}", self.0, self.1)
    }
}

/// The region being received, as messages name it.
struct Receiving(RawFd);

impl std::fmt::Display for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the region received on socket {}", self.0)
    }
}

fn not_a_message(shown: Shown, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "{shown} is not a mapipc region message: {why} (on a stream socket the framing is \
             lost: close it)"
        ),
    )
}

fn socket_error(e: i32, what: String) -> Error {
    let kind = match e {
        // The API's errno for CLOSED is EPIPE, whichever the socket said.
        libc::EPIPE | libc::ECONNRESET => {
            return Error::from_os_as(ErrorKind::Closed, e, what).with_errno(libc::EPIPE)
        }
        libc::ENOTCONN | libc::EDESTADDRREQ | libc::ENOTSOCK | libc::EBADF => {
            ErrorKind::InvalidArgument
        }
        _ => ErrorKind::from_errno(e),
    };
    Error::from_os_as(kind, e, what)
}

/// The end of a timeout, on the monotonic clock.
struct Deadline {
    timeout: Timeout,
    end: Option<Instant>,
}

impl Deadline {
    fn new(timeout: Timeout) -> Deadline {
        let end = match timeout {
            Timeout::After(d) => Instant::now().checked_add(d),
            _ => None,
        };
        Deadline { timeout, end }
    }

    /// What is left, for `ppoll`; `None`: no end.
    fn left(&self) -> Option<Duration> {
        match self.timeout {
            Timeout::Poll => Some(Duration::ZERO),
            Timeout::Never => None,
            Timeout::After(_) => self
                .end
                .map(|e| e.saturating_duration_since(Instant::now())),
        }
    }
}

/// Waits until `sock` is ready for `events` or the deadline passes
/// (`TimedOut`, worded by `what`). Hang-ups and errors count as ready: the
/// next call reports them.
fn wait_ready(
    sock: BorrowedFd<'_>,
    events: libc::c_short,
    deadline: &Deadline,
    what: impl Fn() -> String,
) -> Result<()> {
    loop {
        let left = deadline.left();
        if left == Some(Duration::ZERO) {
            let errno = deadline.timeout.expired_errno();
            return Err(Error::new(ErrorKind::TimedOut, what()).with_errno(errno));
        }
        let ts = left.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events,
            revents: 0,
        };
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: pfd is one writable pollfd; tsp is NULL or a live timespec.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
        match rc {
            n if n > 0 => return Ok(()),
            0 => {}
            _ if errno::errno().0 == libc::EINTR => {}
            _ => return Err(Error::last_os("poll on the socket failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_refuse_what_they_do_not_know() {
        let h = Header {
            offset: 4097,
            length: 65536,
            writable: true,
        };
        let bytes = h.encode();
        assert_eq!(&bytes[0..8], b"MPRG\x01\x00\x1c\x00");
        assert_eq!(Header::decode(&bytes), Ok(h));
        let mut later = bytes;
        later[4] = 2;
        assert!(Header::decode(&later).is_err());
        let mut flags = bytes;
        flags[8] = 0x3;
        assert!(Header::decode(&flags).is_err());
        let empty = Header { length: 0, ..h }.encode();
        assert!(Header::decode(&empty).is_err());
        assert!(Header::decode(&[0; MESSAGE_LEN]).is_err());
    }
}
