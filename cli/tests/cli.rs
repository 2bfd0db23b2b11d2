//! The built (or installed) `mapipc` command run as a user would: every command, its
//! exit statuses and messages, and `--json` parsed. Peers that map objects
//! are this test binary re-run as a helper (see `helper`), synchronised by
//! pipes and waitpid, never by sleeping.

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use mapipc::channel::Channel;
use mapipc::shm::posix;
use mapipc::sync::{Acquired, SharedMutex, Timeout};
use mapipc::{Create, MapOptions, Region};
use serde_json::Value;

/// The command under test: the one cargo built, or MAPIPC_CLI_BIN (make
/// install-test runs these tests against the installed copy).
/// Tests of this file run one at a time: a process spawned by one test
/// shares this process's memory until it execs (posix_spawn's vfork), so
/// `ls` run by another test meanwhile saw it as one more user.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bin() -> String {
    std::env::var("MAPIPC_CLI_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mapipc").to_string())
}
const HELPER_ENV: &str = "MAPIPC_CLI_TEST_HELPER";
/// What a helper prints when it is ready (after libtest's own words on the line).
const READY: &str = "mapipc-helper-ready";

fn mapipc(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("the built mapipc runs")
}

/// Runs mapipc expecting exit 0 and one JSON value on stdout.
fn json(args: &[&str]) -> Value {
    let out = mapipc(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no single JSON value ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A POSIX object for one test, unlinked when the test ends, pass or fail.
struct Object {
    name: String,
    region: Option<Region>,
}

/// A name no other test (or test run) uses.
fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "/mapipc-cli-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Object {
    fn new(tag: &str, size: usize) -> Object {
        Object::create(tag, size, MapOptions::read_write())
    }

    /// A temporary object whose one user is this process.
    fn temporary(tag: &str, size: usize) -> Object {
        Object::create(tag, size, MapOptions::read_write().temporary())
    }

    fn create(tag: &str, size: usize, opts: MapOptions) -> Object {
        let name = unique_name(tag);
        let opts = opts.create(Create::Exclusive);
        let region = posix::open_name(&CString::new(name.clone()).unwrap(), size, opts).unwrap();
        Object {
            name,
            region: Some(region),
        }
    }

    /// Only a name, for an object a helper creates: removed at the end too.
    fn named(tag: &str) -> Object {
        Object {
            name: unique_name(tag),
            region: None,
        }
    }

    fn exists(&self) -> bool {
        std::path::Path::new(&format!("/dev/shm{}", self.name)).exists()
    }

    fn region(&self) -> &Region {
        self.region.as_ref().unwrap()
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        drop(self.region.take());
        let _ = posix::unlink_name(&CString::new(self.name.clone()).unwrap());
    }
}

/// This test binary run as a helper process doing `role` on object
/// `name`; it prints READY once done, then waits for stdin to close (or
/// for SIGKILL).
struct Peer(Child);

impl Peer {
    fn start(role: &str, name: &str) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
            .env(HELPER_ENV, format!("{role} {name}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.find_map(|l| l.ok().filter(|l| l.contains(READY)));
        assert!(ready.is_some(), "helper {role} did not get ready");
        Peer(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, then reap: the kernel has released everything it held.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The helper side of `Peer`: does nothing unless run by `Peer::start`.
#[test]
fn helper() {
    let _serial = serial();
    let Ok(job) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (role, name) = job.split_once(' ').unwrap();
    let name = CString::new(name).unwrap();
    let region = if role == "temporary" {
        // Creates a temporary object with a channel, and is its one user.
        let opts = MapOptions::read_write()
            .create(Create::Exclusive)
            .temporary();
        let region = posix::open_name(&name, 8192, opts).unwrap();
        Channel::init_in(&region, 0, 8192).unwrap();
        region
    } else {
        posix::open_name(&name, 0, MapOptions::read_write()).unwrap()
    };
    match role {
        "send" | "temporary" => Channel::open_in(&region, 0)
            .unwrap()
            .send(b"hello", Timeout::Never)
            .unwrap(),
        "lock" => {
            SharedMutex::in_region(&region, 4096)
                .unwrap()
                .lock(Timeout::Never)
                .unwrap();
        }
        _ => panic!("unknown helper role {role}"),
    }
    // Straight to the descriptor: libtest may capture println! output.
    let mut out = std::io::stdout();
    std::io::Write::write_all(&mut out, format!("{READY}\n").as_bytes()).unwrap();
    std::io::Write::flush(&mut out).unwrap();
    let _ = std::io::stdin().read_line(&mut String::new());
}

#[test]
fn inspect_channel_with_a_sender_that_is_killed() {
    let _serial = serial();
    let obj = Object::new("chan", 8192);
    Channel::init_in(obj.region(), 0, 8192).unwrap();
    let sender = Peer::start("send", &obj.name);
    let spid = sender.pid();

    let v = json(&["inspect", &obj.name, "--json"]);
    assert_eq!(v["kind"], "posix");
    assert_eq!(v["name"], obj.name.as_str());
    assert_eq!(
        (v["key"].clone(), v["id"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        (v["size"].as_u64(), v["mode"].as_str()),
        (Some(8192), Some("0600"))
    );
    assert_eq!(
        (v["offset"].as_u64(), v["object"].as_str()),
        (Some(0), Some("channel"))
    );
    let mut pids: Vec<u64> = v["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    pids.sort();
    let mut want = vec![u64::from(std::process::id()), u64::from(spid)];
    want.sort();
    assert_eq!(
        pids, want,
        "this test and the sender map it; mapipc itself does not count"
    );
    let ch = &v["channel"];
    assert_eq!(
        (ch["version"].as_u64(), ch["many_senders"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(ch["capacity"].as_u64(), Some(8192 - 384));
    assert_eq!(
        (ch["queued_bytes"].as_u64(), ch["queued_messages"].as_u64()),
        (Some(128), Some(1)),
        "one 5-byte message: a 64-byte frame header and 64 bytes of payload"
    );
    assert_eq!(ch["closed"], false);
    assert_eq!(
        (ch["sender_pid"].as_u64(), ch["sender_alive"].as_bool()),
        (Some(u64::from(spid)), Some(true))
    );
    assert_eq!(
        (ch["receiver_pid"].clone(), ch["receiver_alive"].clone()),
        (Value::Null, Value::Null)
    );

    sender.kill();
    let v = json(&["inspect", &obj.name, "--json"]);
    assert_eq!(v["pids"], serde_json::json!([std::process::id()]));
    let ch = &v["channel"];
    assert_eq!(
        (ch["sender_pid"].as_u64(), ch["sender_alive"].as_bool()),
        (Some(u64::from(spid)), Some(false))
    );
    assert_eq!(
        ch["queued_messages"].as_u64(),
        Some(1),
        "inspecting took nothing off the queue"
    );

    let text = String::from_utf8(mapipc(&["inspect", &obj.name]).stdout).unwrap();
    assert!(
        text.contains(&format!("sender       pid {spid} (dead)")),
        "{text}"
    );
    assert!(text.contains("8.0 KiB"), "{text}");
}

#[test]
fn inspect_mutex_held_then_owner_died_then_not_recoverable() {
    let _serial = serial();
    let obj = Object::new("mutex", 8192);
    let lock = SharedMutex::in_region(obj.region(), 4096).unwrap();
    lock.init().unwrap();
    let mutex = |v: &Value| (v["object"].clone(), v["mutex"].clone());
    let v = json(&["inspect", &obj.name, "--offset", "4096", "--json"]);
    assert_eq!(mutex(&v).0, "mutex");
    assert_eq!(v["mutex"]["state"], "free");
    assert_eq!(
        (
            v["mutex"]["holder_pid"].clone(),
            v["mutex"]["holder_alive"].clone()
        ),
        (Value::Null, Value::Null)
    );

    let holder = Peer::start("lock", &obj.name);
    let hpid = u64::from(holder.pid());
    let v = json(&["inspect", &obj.name, "--offset", "4096", "--json"]);
    assert_eq!(v["mutex"]["state"], "held");
    assert_eq!(
        (
            v["mutex"]["holder_pid"].as_u64(),
            v["mutex"]["holder_alive"].as_bool()
        ),
        (Some(hpid), Some(true))
    );

    holder.kill();
    let v = json(&["inspect", &obj.name, "--offset", "4096", "--json"]);
    assert_eq!(v["mutex"]["state"], "owner_died");
    assert_eq!(
        (
            v["mutex"]["holder_pid"].as_u64(),
            v["mutex"]["holder_alive"].as_bool()
        ),
        (Some(hpid), Some(false))
    );

    // Inspection left the lock as it was: the next locker learns of the death.
    assert_eq!(lock.lock(Timeout::Poll).unwrap(), Acquired::OwnerDied);
    assert!(lock.unlock().is_err(), "unlocked without repair");
    let v = json(&["inspect", &obj.name, "--offset", "4096", "--json"]);
    assert_eq!(v["mutex"]["state"], "not_recoverable");

    let v = json(&["inspect", &obj.name, "--offset", "100", "--json"]);
    assert_eq!(
        (v["object"].as_str(), v["offset"].as_u64()),
        (Some("unknown"), Some(100))
    );
}

#[test]
fn ls_lists_posix_objects_with_their_channel_and_users() {
    let _serial = serial();
    let chan = Object::new("ls", 4096);
    Channel::init_in(chan.region(), 0, 4096).unwrap();
    let plain = Object::new("ls", 4096);
    let all = json(&["ls", "--json"]);
    let find = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    let c = find(&chan.name);
    for key in [
        "kind",
        "name",
        "key",
        "id",
        "size",
        "mode",
        "uid",
        "pids",
        "temporary",
        "stale",
        "channel",
    ] {
        assert!(c.get(key).is_some(), "key {key} missing");
    }
    assert_eq!(
        (c["kind"].as_str(), c["uid"].as_u64()),
        (Some("posix"), Some(0))
    );
    assert_eq!(
        (c["temporary"].as_bool(), c["stale"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(c["pids"], serde_json::json!([std::process::id()]));
    assert_eq!(c["channel"]["queued_messages"].as_u64(), Some(0));
    assert_eq!(find(&plain.name)["channel"], Value::Null);

    let out = mapipc(&["ls"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("KIND") && header.contains("PIDS"),
        "{header}"
    );
    let row = text.lines().find(|l| l.contains(&chan.name)).unwrap();
    assert!(
        row.contains("4.0 KiB") && row.contains("0600") && row.contains("v2 0 msg"),
        "{row}"
    );
}

#[test]
fn system_v_by_key_and_id() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("mapipc-cli-sysv-{}", std::process::id()));
    std::fs::write(&dir, b"").unwrap();
    let opts = MapOptions::read_write().create(Create::Exclusive);
    let region = mapipc::shm::sysv::open_key(&dir, 7, 4096, opts);
    let key = mapipc::shm::sysv::key_for(&dir, 7).unwrap().0;
    std::fs::remove_file(&dir).unwrap();
    let region = region.unwrap();
    let info = region.info();
    let removed = std::cell::Cell::new(false);
    struct Cleanup<'a>(&'a std::cell::Cell<bool>, mapipc::RegionInfo);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if !self.0.get() {
                let _ = mapipc::shm::sysv::remove_attached(&self.1);
            }
        }
    }
    let _cleanup = Cleanup(&removed, info);
    SharedMutex::in_region(&region, 0).unwrap().init().unwrap();

    let hex = format!("{:#x}", key as u32);
    let v = json(&["inspect", &hex, "--json"]);
    assert_eq!(
        (v["kind"].as_str(), v["key"].as_i64()),
        (Some("sysv"), Some(i64::from(key)))
    );
    assert_eq!(
        (v["name"].clone(), v["size"].as_u64()),
        (Value::Null, Some(4096))
    );
    assert_eq!(
        v["pids"],
        serde_json::json!([std::process::id()]),
        "the reading attach does not count"
    );
    assert_eq!(
        (v["object"].as_str(), v["mutex"]["state"].as_str()),
        (Some("mutex"), Some("free"))
    );
    let id = v["id"].as_i64().unwrap().to_string();
    let by_id = json(&["inspect", &format!("id:{id}"), "--json"]);
    assert_eq!(by_id["key"], v["key"]);
    let listed = json(&["ls", "--json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["kind"] == "sysv" && o["id"] == v["id"]));

    let out = mapipc(&["rm", &format!("id:{id}")]);
    assert_eq!(out.status.code(), Some(0));
    removed.set(true);
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("1 process still maps it"), "{said}");
}

#[test]
fn rm_goes_on_past_failures_and_exits_1() {
    let _serial = serial();
    let obj = Object::new("rm", 4096);
    let file = std::env::temp_dir().join(format!("mapipc-cli-rm-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let missing = format!("{}-missing", obj.name);
    let out = mapipc(&["rm", &missing, &obj.name, file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with(&format!("mapipc: {missing}: ")), "{err}");
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("removed {}: 1 process still maps it", obj.name)),
        "{said}"
    );
    assert!(!std::path::Path::new(&format!("/dev/shm{}", obj.name)).exists());
    assert!(!file.exists());
}

#[test]
fn usage_errors_help_and_version() {
    let _serial = serial();
    for args in [
        &["bogus"][..],
        &[],
        &["inspect"],
        &["rm"],
        &["ls", "--nope"],
        &["inspect", "/x", "--offset", "z"],
    ] {
        let out = mapipc(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for cmd in [
        &["--help"][..],
        &["ls", "--help"],
        &["inspect", "--help"],
        &["gc", "--help"],
        &["rm", "--help"],
    ] {
        let out = mapipc(cmd);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        assert!(
            String::from_utf8(out.stdout)
                .unwrap()
                .contains("Usage: mapipc"),
            "{cmd:?}"
        );
    }
    let out = mapipc(&["--version"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("mapipc {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn operation_failures_name_the_target() {
    let _serial = serial();
    for (target, cause) in [
        ("/mapipc-cli-none", "/mapipc-cli-none: "),
        ("id:2147483000", "id:2147483000: "),
        ("0x0", "IPC_PRIVATE"),
        ("/bad name/", "/bad name/: "),
    ] {
        let out = mapipc(&["inspect", target, "--json"]);
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert!(out.stdout.is_empty(), "{target}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("mapipc: ") && err.contains(cause),
            "{target}: {err}"
        );
    }
    let obj = Object::new("past", 4096);
    let out = mapipc(&["inspect", &obj.name, "--offset", "4097"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("past its end"));
}

#[test]
fn gc_prints_an_array() {
    let _serial = serial();
    // What it removes: temporary_object_of_a_killed_user_is_stale_and_gc_removes_only_it.
    assert!(json(&["gc", "--dry-run", "--json"]).is_array());
    let out = mapipc(&["gc", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
}

/// The `ls --json` entry named `name`, if listed.
fn listed(all: &Value, name: &str) -> Option<Value> {
    all.as_array()
        .expect("ls --json prints an array")
        .iter()
        .find(|o| o["name"] == name)
        .cloned()
}

/// The names in a `gc --json` array.
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("gc --json prints an array")
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

fn lifetime(v: &Value) -> (Option<bool>, Option<bool>) {
    (v["temporary"].as_bool(), v["stale"].as_bool())
}

#[test]
fn temporary_object_of_a_killed_user_is_stale_and_gc_removes_only_it() {
    let _serial = serial();
    // The killed user's object: named here, so that a failure still removes it.
    let doomed = Object::named("stale");
    let user = Peer::start("temporary", &doomed.name);
    let upid = user.pid();
    let live = Object::temporary("live", 4096);
    let mut permanent = Object::new("perm", 4096);
    drop(permanent.region.take()); // no user left, but nobody said it was temporary
    let me = std::process::id();

    let all = json(&["ls", "--json"]);
    let d = listed(&all, &doomed.name).expect("the user's object is listed");
    assert_eq!(lifetime(&d), (Some(true), Some(false)));
    assert_eq!(
        (d["mode"].as_str(), d["size"].as_u64()),
        (Some("0600"), Some(8192)),
        "the temporary marker is not part of the mode"
    );
    assert_eq!(d["pids"], serde_json::json!([upid]));
    assert_eq!(
        (
            d["channel"]["sender_pid"].as_u64(),
            d["channel"]["sender_alive"].as_bool()
        ),
        (Some(u64::from(upid)), Some(true))
    );

    user.kill();
    let all = json(&["ls", "--json"]);
    let d = listed(&all, &doomed.name).expect("a stale object stays listed until removed");
    assert_eq!(lifetime(&d), (Some(true), Some(true)));
    assert_eq!(d["pids"], serde_json::json!([]));
    let ch = &d["channel"];
    assert_eq!(
        (ch["sender_pid"].as_u64(), ch["sender_alive"].as_bool()),
        (Some(u64::from(upid)), Some(false))
    );
    assert_eq!(ch["queued_messages"].as_u64(), Some(1));
    let l = listed(&all, &live.name).expect("the live temporary object is listed");
    assert_eq!(lifetime(&l), (Some(true), Some(false)));
    assert_eq!(l["pids"], serde_json::json!([me]));
    let p = listed(&all, &permanent.name).expect("the permanent object is listed");
    assert_eq!(lifetime(&p), (Some(false), Some(false)));
    assert_eq!(p["pids"], serde_json::json!([]));

    let out = mapipc(&["ls"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_string()
    };
    let d = row(&doomed.name);
    assert!(
        d.contains(" stale ") && d.contains(&format!("snd {upid} dead")),
        "{d}"
    );
    assert!(row(&live.name).contains(" temporary "), "{text}");
    let v = json(&["inspect", &doomed.name, "--json"]);
    assert_eq!(lifetime(&v), (Some(true), Some(true)));
    assert_eq!(v["channel"]["sender_alive"], false);
    let out = mapipc(&["inspect", &doomed.name]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("sender       pid {upid} (dead)")),
        "{text}"
    );
    assert!(text.contains("temporary, stale"), "{text}");

    // Only stale temporary objects: ours (and any another test left on this machine).
    let out = mapipc(&["gc", "--dry-run"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("would remove {} (8.0 KiB)\n", doomed.name)),
        "{text}"
    );
    let would = names(&json(&["gc", "--dry-run", "--json"]));
    assert!(would.contains(&doomed.name), "{would:?}");
    assert!(doomed.exists(), "--dry-run removed it");
    let removed = json(&["gc", "--json"]);
    let gone = names(&removed);
    assert!(gone.contains(&doomed.name), "{gone:?}");
    for o in removed.as_array().unwrap() {
        assert_eq!(
            (o["kind"].as_str(), lifetime(o)),
            (Some("posix"), (Some(true), Some(true)))
        );
    }
    for kept in [&live, &permanent] {
        assert!(!would.contains(&kept.name) && !gone.contains(&kept.name));
        assert!(kept.exists(), "gc removed {}", kept.name);
    }
    assert!(!doomed.exists());
    assert!(listed(&json(&["ls", "--json"]), &doomed.name).is_none());
    assert!(!names(&json(&["gc", "--json"])).contains(&doomed.name));
}

#[test]
fn rm_of_a_live_temporary_object_removes_the_name_not_the_memory() {
    let _serial = serial();
    let obj = Object::named("rm-live");
    let user = Peer::start("temporary", &obj.name);
    let maps = format!("/proc/{}/maps", user.pid());
    let ino = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(format!("/dev/shm{}", obj.name)).unwrap(),
    );
    let out = mapipc(&["rm", &obj.name]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("removed {}: 1 process still maps it\n", obj.name)
    );
    assert!(!obj.exists());
    assert!(listed(&json(&["ls", "--json"]), &obj.name).is_none());
    let mapped = std::fs::read_to_string(&maps).unwrap();
    assert!(
        mapped
            .lines()
            .any(|l| l.contains(&format!(" {ino} ")) && l.ends_with(" (deleted)")),
        "the user still maps the memory (inode {ino}):\n{mapped}"
    );

    let out = mapipc(&["rm", &obj.name]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with(&format!("mapipc: {}: ", obj.name)), "{err}");
    user.kill();
    assert!(!obj.exists(), "nothing comes back when its user dies");
}

#[test]
fn a_reader_that_stops_early_gets_no_error_message() {
    let _serial = serial();
    let mut child = Command::new(bin())
        .args(["ls", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // as `| head -c 0` would
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        out.status
    );
}
