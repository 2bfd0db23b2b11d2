//! What every export does at the C boundary: catch panics, turn an
//! [`Error`] into status + errno + the calling thread's message, and read
//! C strings and out-pointers without trusting them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{mapipc_status, status_of, MAPIPC_OK};
use crate::error::{Error, ErrorKind, Result};
use crate::region::registry;
use crate::region::Region;

thread_local! {
    static LAST_ERROR: RefCell<Cow<'static, CStr>> =
        const { RefCell::new(Cow::Borrowed(c"no mapipc call has failed on this thread")) };
}

/// Runs an export's body: `Ok` is `MAPIPC_OK`; an error or a panic is
/// recorded for the thread, errno is set, and its status returned.
pub(crate) fn call(body: impl FnOnce() -> Result<()>) -> mapipc_status {
    let err = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return MAPIPC_OK,
        Ok(Err(err)) => err,
        Err(_) => Error::new(
            ErrorKind::Internal,
            "internal error in mapipc (a Rust panic was stopped at the C boundary); \
             please report it",
        ),
    };
    record(&err);
    // Last, so that nothing after it (allocation, TLS) can clobber it.
    errno::set_errno(errno::Errno(err.errno()));
    status_of(err.kind())
}

/// Runs an export that makes a region: `*out` is cleared first, and on
/// success the region joins the registry and `*out` gets its pointer.
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
pub(crate) unsafe fn call_for_region(
    out: *mut *mut std::ffi::c_void,
    make: impl FnOnce() -> Result<Region>,
) -> mapipc_status {
    call(|| {
        // SAFETY: the caller's promise above.
        let out = unsafe { Out::new(out, "out", std::ptr::null_mut()) }?;
        // A SIGBUS handler the program installed since mapipc's is chained
        // to from now on, with mapipc's back in front.
        crate::guard::reclaim_handler();
        out.set(registry::insert(make()?).cast());
        Ok(())
    })
}

fn record(err: &Error) {
    // A message with a NUL (from a path) is cut there rather than lost.
    let bytes = err.message().as_bytes();
    let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = CString::new(&bytes[..cut]).unwrap_or_default();
    // try_with: during thread teardown the slot may be gone; then the
    // message is dropped, the status and errno still reach the caller.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Cow::Owned(text);
        }
    });
}

/// A failure with a fixed message, recorded without allocating: for
/// outcomes a caller meets in a loop (a channel polled while empty).
pub(crate) fn fail_static(kind: ErrorKind, errno: i32, message: &'static CStr) -> mapipc_status {
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Cow::Borrowed(message);
        }
    });
    errno::set_errno(errno::Errno(errno));
    status_of(kind)
}

/// The calling thread's most recent failure message, naming the object and
/// the values involved. Never NULL. The string stays valid until the next
/// failing mapipc call on the same thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn mapipc_last_error() -> *const c_char {
    let ptr = catch_unwind(|| {
        LAST_ERROR
            .try_with(|slot| slot.try_borrow().map(|s| s.as_ptr()).ok())
            .ok()
            .flatten()
    });
    match ptr {
        Ok(Some(p)) => p,
        _ => c"mapipc: no error message available on this thread".as_ptr(),
    }
}

/// The version of the library, e.g. "0.1.0". Never NULL.
#[no_mangle]
pub extern "C" fn mapipc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Reads a C string argument: NULL and "" are refused.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a CStr> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: the caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(ptr) };
    if s.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} is an empty string"),
        ));
    }
    Ok(s)
}

/// An out-pointer: cleared at once (so it is NULL on every failure), and
/// written only on success.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    /// `ptr` is NULL or valid for writing a `T`.
    pub(crate) unsafe fn new(ptr: *mut T, what: &str, empty: T) -> Result<Out<T>> {
        if ptr.is_null() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{what} is NULL: there is nowhere to store the result"),
            ));
        }
        // SAFETY: non-NULL and, by the caller's promise, writable.
        unsafe { ptr.write(empty) };
        Ok(Out(ptr))
    }

    pub(crate) fn set(self, value: T) {
        // SAFETY: checked non-NULL and writable in new().
        unsafe { self.0.write(value) }
    }
}
