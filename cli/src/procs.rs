//! What /proc and the kernel say about processes: who maps which object
//! (one pass over every /proc/PID/maps, indexed by device and inode), and
//! whether a process still runs (from its pidfd). Never counts this process,
//! nor another run of this command.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

/// A file's identity as /proc/PID/maps shows it: device major, minor, inode.
pub type FileId = (u32, u32, u64);

/// Which live processes map which object.
#[derive(Debug, Default)]
pub struct Users {
    files: HashMap<FileId, Vec<u32>>,
    /// System V segments, by id (the inode their `/SYSV<key>` mapping shows).
    sysv: HashMap<u64, Vec<u32>>,
}

impl Users {
    /// Reads every process's maps once. Processes that end meanwhile, or
    /// whose maps cannot be read, are left out.
    pub fn scan() -> Users {
        let me = std::process::id();
        let my_exe = exe_of("self");
        let mut users = Users::default();
        let mut buf = Vec::with_capacity(64 << 10);
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return users;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            buf.clear();
            let path = format!("/proc/{pid}/maps");
            if std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .is_err()
            {
                continue;
            }
            // Another `mapipc ls` or `inspect` attaches System V segments for
            // a moment to read them: no user. Only then is its exe looked at.
            if my_exe.is_some() && has_sysv(&buf) && exe_of(&pid.to_string()) == my_exe {
                continue;
            }
            users.add(pid, &buf);
        }
        users
    }

    fn add(&mut self, pid: u32, maps: &[u8]) {
        for line in maps.split(|&b| b == b'\n') {
            let Some((id, path)) = parse_line(line) else {
                continue;
            };
            let pids = if path.starts_with(b"/SYSV") {
                self.sysv.entry(id.2).or_default()
            } else {
                self.files.entry(id).or_default()
            };
            // A process maps an object in one or more consecutive lines.
            if pids.last() != Some(&pid) {
                pids.push(pid);
            }
        }
    }

    /// The processes that map the file (or POSIX object) `id`, sorted.
    pub fn of_file(&self, id: FileId) -> Vec<u32> {
        sorted(self.files.get(&id))
    }

    /// The processes that attach System V segment `shmid`, sorted.
    pub fn of_sysv(&self, shmid: i32) -> Vec<u32> {
        sorted(self.sysv.get(&(shmid as u64)))
    }
}

/// Device and inode of the program process `pid` ("self": this one) runs.
fn exe_of(pid: &str) -> Option<(u64, u64)> {
    let m = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    Some((m.dev(), m.ino()))
}

fn has_sysv(maps: &[u8]) -> bool {
    maps.windows(6).any(|w| w == b" /SYSV")
}

fn sorted(pids: Option<&Vec<u32>>) -> Vec<u32> {
    let mut v = pids.cloned().unwrap_or_default();
    v.sort_unstable();
    v.dedup();
    v
}

/// `start-end perms offset MAJ:MIN inode path`: the identity and path of a
/// line that maps a file (inode not 0).
fn parse_line(line: &[u8]) -> Option<(FileId, &[u8])> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let dev = fields.nth(3)?;
    let inode = std::str::from_utf8(fields.next()?)
        .ok()?
        .parse::<u64>()
        .ok()?;
    if inode == 0 {
        return None;
    }
    let dev = std::str::from_utf8(dev).ok()?;
    let (major, minor) = dev.split_once(':')?;
    let major = u32::from_str_radix(major, 16).ok()?;
    let minor = u32::from_str_radix(minor, 16).ok()?;
    let path = fields.next().unwrap_or_default().trim_ascii_start();
    Some(((major, minor, inode), path))
}

/// Whether process `pid` runs (a zombie does not): its pidfd becomes
/// readable when it exits. Where pidfds are not available, /proc says.
pub fn alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: pidfd_open takes a pid and flags; it returns a new
    // descriptor (close-on-exec by definition) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => false,
            _ => proc_says_alive(pid),
        };
    }
    let mut pfd = libc::pollfd {
        fd: fd as i32,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting; then the descriptor is ours to close.
    let exited = unsafe {
        let n = libc::poll(&mut pfd, 1, 0);
        libc::close(fd as i32);
        n > 0 && pfd.revents & libc::POLLIN != 0
    };
    !exited
}

fn proc_says_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which may itself hold ") ".
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

/// User names by uid, from /etc/passwd (the numbers where it has none).
pub fn user_name(uid: u32) -> String {
    thread_local! {
        static NAMES: HashMap<u32, String> = std::fs::read_to_string("/etc/passwd")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?.to_string();
                Some((f.nth(1)?.parse().ok()?, name))
            })
            .collect();
    }
    NAMES
        .with(|n| n.get(&uid).cloned())
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines() {
        let line = b"7f00-7f01 rw-s 00000000 00:1a 123 /dev/shm/q";
        assert_eq!(parse_line(line), Some(((0, 0x1a, 123), &b"/dev/shm/q"[..])));
        let sysv =
            b"7f00-7f01 rw-s 00000000 00:01 65538                      /SYSV0000abcd (deleted)";
        assert_eq!(parse_line(sysv).unwrap().0, (0, 1, 65538));
        assert_eq!(parse_line(b"7f00-7f01 rw-p 00000000 00:00 0 "), None);
        let mut u = Users::default();
        u.add(9, &[&line[..], b"\n", &line[..], b"\n", &sysv[..]].concat());
        u.add(3, line);
        assert_eq!(u.of_file((0, 0x1a, 123)), vec![3, 9]);
        assert_eq!(u.of_sysv(65538), vec![9]);
        assert!(has_sysv(sysv) && !has_sysv(line));
        assert_eq!(exe_of("self"), exe_of(&std::process::id().to_string()));
        assert!(exe_of("self").is_some());
    }

    #[test]
    fn liveness_of_self_child_and_nobody() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Wait for the exit without reaping: the zombie must count as dead.
        // SAFETY: siginfo_t is plain data, valid all zero.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child, info valid for writing.
        let rc =
            unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        assert_eq!(rc, 0);
        assert!(!alive(pid));
        assert!(!proc_says_alive(pid));
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0));
    }
}
