//! How objects are shown: JSON values with the keys API.md fixes, and
//! text for people (aligned columns, sizes in KiB/MiB, alive/dead).

use mapipc::channel::ChannelState;
use mapipc::sync::{LockState, MutexState};
use serde_json::{json, Value};

use crate::look::Found;
use crate::object::{Kind, Object};
use crate::procs::{alive, user_name};

pub fn object_json(o: &Object) -> Value {
    let kind = match o.kind {
        Kind::Posix => "posix",
        Kind::Sysv => "sysv",
        Kind::File => "file",
    };
    let mut v = json!({
        "kind": kind, "name": o.name, "key": o.key, "id": o.id, "size": o.size,
        "mode": format!("{:04o}", o.mode), "uid": o.uid, "owner": user_name(o.uid),
        "pids": o.pids, "temporary": o.temporary, "stale": o.stale,
    });
    if let Some(n) = o.nattch {
        v["nattch"] = json!(n);
        v["marked_for_deletion"] = json!(o.removed);
    }
    v
}

fn pid_alive(pid: Option<u32>) -> Value {
    pid.map_or(Value::Null, |p| json!(alive(p)))
}

pub fn channel_json(c: &ChannelState) -> Value {
    json!({
        "version": c.version, "many_senders": c.many_senders, "size": c.size,
        "capacity": c.capacity, "queued_bytes": c.queued_bytes,
        "queued_messages": c.queued_messages, "closed": c.closed,
        "sender_pid": c.sender_pid, "sender_alive": pid_alive(c.sender_pid),
        "receiver_pid": c.receiver_pid, "receiver_alive": pid_alive(c.receiver_pid),
        "sending": c.sending, "receiving": c.receiving, "damaged": c.damaged,
    })
}

fn lock_state_name(s: LockState) -> &'static str {
    match s {
        LockState::Free => "free",
        LockState::Held => "held",
        LockState::OwnerDied => "owner_died",
        LockState::NotRecoverable => "not_recoverable",
    }
}

/// An owner that died is dead whatever its process does now.
fn holder_alive(m: &MutexState) -> Value {
    match m.state {
        LockState::OwnerDied if m.holder_pid.is_some() => json!(false),
        _ => pid_alive(m.holder_pid),
    }
}

pub fn mutex_json(m: &MutexState) -> Value {
    json!({
        "state": lock_state_name(m.state), "holder_tid": m.holder_tid,
        "holder_pid": m.holder_pid, "holder_alive": holder_alive(m),
        "repairing": m.repairing,
    })
}

pub fn found_json(obj: &Object, offset: u64, found: &Found) -> Value {
    let mut v = object_json(obj);
    v["offset"] = json!(offset);
    let (what, key, detail) = match found {
        Found::Channel(c) => ("channel", "channel", channel_json(c)),
        Found::Mutex(m) => ("mutex", "mutex", mutex_json(m)),
        Found::Unknown => ("unknown", "", Value::Null),
    };
    v["object"] = json!(what);
    if !key.is_empty() {
        v[key] = detail;
    }
    v
}

/// 512 B, 4.0 KiB, 1.5 MiB, 2.0 GiB.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let (mut v, mut unit) = (n as f64 / 1024.0, 0);
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn who(pid: Option<u32>) -> String {
    match pid {
        None => "none yet".to_string(),
        Some(p) => format!("pid {p} ({})", if alive(p) { "alive" } else { "dead" }),
    }
}

/// One line for a table cell: `ch v2 2 msg 256 B snd 12 alive rcv -`.
pub fn channel_brief(c: &ChannelState) -> String {
    let msgs = c.queued_messages.map_or("?".to_string(), |m| m.to_string());
    let side = |p: Option<u32>| {
        p.map_or("-".to_string(), |p| {
            format!("{p} {}", if alive(p) { "alive" } else { "dead" })
        })
    };
    format!(
        "v{} {msgs} msg/{}{} snd {} rcv {}",
        c.version,
        size(c.queued_bytes),
        if c.closed { " closed" } else { "" },
        side(c.sender_pid),
        side(c.receiver_pid)
    )
}

pub fn channel_text(c: &ChannelState) -> String {
    let msgs = c.queued_messages.map_or("?".to_string(), |m| m.to_string());
    format!(
        "channel, format version {}{}\n  size         {}\n  capacity     {} of ring\n  queued       {} in {msgs} messages\n  closed       {}\n  sender       {}{}\n  receiver     {}{}\n",
        c.version,
        if c.damaged { " (DAMAGED: positions or pids out of bounds)" } else { "" },
        size(c.size as u64),
        size(c.capacity),
        size(c.queued_bytes),
        if c.closed { "yes" } else { "no" },
        who(c.sender_pid),
        if c.sending { ", inside send" } else { "" },
        who(c.receiver_pid),
        if c.receiving { ", inside recv" } else { "" },
    )
}

pub fn mutex_text(m: &MutexState) -> String {
    let pid = m
        .holder_pid
        .map_or("an unknown process".to_string(), |p| p.to_string());
    match m.state {
        LockState::Free => "mutex, free\n".to_string(),
        LockState::NotRecoverable => "mutex, not recoverable (unlocked after its holder died without being made consistent)\n".to_string(),
        LockState::OwnerDied => format!("mutex, owner died: its holder (pid {pid}, dead) died holding it\n"),
        LockState::Held => format!(
            "mutex, held by thread {} of pid {pid} ({}){}\n",
            m.holder_tid.unwrap_or(0),
            if m.holder_pid.is_some_and(alive) { "alive" } else { "dead" },
            if m.repairing { ", repairing after an owner death" } else { "" }
        ),
    }
}

/// Columns padded to their widest cell; the last is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (c, cell) in row.iter().enumerate() {
            if c == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tables() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(4096), "4.0 KiB");
        assert_eq!(size(3 << 19), "1.5 MiB");
        let t = table(&[
            vec!["a".into(), "bb".into(), "c".into()],
            vec!["ccc".into(), "d".into(), "e".into()],
        ]);
        assert_eq!(t, "a    bb  c\nccc  d   e\n");
    }
}
