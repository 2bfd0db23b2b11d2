//! The `mapipc` command. Owns argument parsing and output for people and
//! scripts; every decoding of shared memory is the library's, and the
//! command only reads objects (ls, inspect) unless told to remove them.

mod args;
mod look;
mod object;
mod procs;
mod sysv;
mod target;
mod view;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;

use args::{Cli, Command};
use look::Found;
use object::{Kind, Object};
use procs::Users;
use target::Target;

fn main() -> ExitCode {
    // A reader that stops early (`mapipc ls | head`) ends the command
    // quietly, as it ends ls, not with a panic on the failed write.
    // SAFETY: restores a signal's default disposition; no thread exists yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // clap exits by itself: 0 after --help and --version, 2 on a usage error.
    let cli = Cli::parse();
    let done = match cli.command {
        Command::Ls { json } => ls(json),
        Command::Inspect {
            target,
            offset,
            json,
        } => inspect(&target, offset, json),
        Command::Gc { dry_run, json } => gc(dry_run, json),
        Command::Rm { targets } => rm(&targets),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("mapipc: {message}");
            }
            ExitCode::from(1)
        }
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values always serialise")
    );
}

/// Every POSIX object, then every System V segment, each with the channel
/// at its offset 0 (if any).
fn ls(json: bool) -> Result<(), String> {
    let users = Users::scan();
    let posix = Object::posix_names()
        .into_iter()
        .filter_map(|n| Object::posix(&n, &users).ok());
    let sysv = sysv::ids()
        .into_iter()
        .filter_map(|id| Object::sysv(id, &users).ok());
    let mut entries = Vec::new();
    for obj in posix.chain(sysv) {
        // Objects are described one at a time: no descriptor is kept open.
        let channel = match look::at(&obj, 0, true) {
            Ok(Found::Channel(c)) => Some(c),
            _ => None,
        };
        entries.push((
            view::object_json(&obj),
            ls_row(&obj, channel.as_ref()),
            channel,
        ));
    }
    if json {
        let all = entries
            .into_iter()
            .map(|(mut v, _, ch)| {
                v["channel"] = ch.as_ref().map_or(Value::Null, view::channel_json);
                v
            })
            .collect();
        print_json(&Value::Array(all));
        return Ok(());
    }
    let head = [
        "KIND", "NAME/KEY", "ID", "SIZE", "MODE", "OWNER", "LIFETIME", "PIDS", "CHANNEL",
    ];
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect()];
    rows.extend(entries.into_iter().map(|(_, row, _)| row));
    print!("{}", view::table(&rows));
    Ok(())
}

fn ls_row(o: &Object, channel: Option<&mapipc::channel::ChannelState>) -> Vec<String> {
    let lifetime = match (o.temporary, o.stale) {
        (true, true) => "stale",
        (true, false) => "temporary",
        _ if o.removed => "removed",
        _ => "-",
    };
    let pids: Vec<String> = o.pids.iter().map(u32::to_string).collect();
    let shown = if pids.len() > 4 {
        format!("{} +{}", pids[..4].join(","), pids.len() - 4)
    } else if pids.is_empty() {
        "-".to_string()
    } else {
        pids.join(",")
    };
    vec![
        if o.kind == Kind::Sysv {
            "sysv"
        } else {
            "posix"
        }
        .to_string(),
        o.name
            .clone()
            .unwrap_or_else(|| format!("{:#010x}", o.key.unwrap_or(0) as u32)),
        o.id.map_or("-".to_string(), |i| i.to_string()),
        view::size(o.size),
        format!("{:04o}", o.mode),
        procs::user_name(o.uid),
        lifetime.to_string(),
        shown,
        channel.map_or("-".to_string(), view::channel_brief),
    ]
}

/// The object a target names, with its users.
fn resolve(target: &Target, users: &Users) -> Result<Object, String> {
    match target {
        Target::Posix(name) => Object::posix(name, users),
        Target::File(path) => Object::of_path(Kind::File, path.display().to_string(), path, users),
        Target::SysvKey(key) => Object::sysv(sysv::id_of_key(*key)?, users),
        Target::SysvId(id) => Object::sysv(*id, users),
    }
}

fn inspect(target: &str, offset: u64, json: bool) -> Result<(), String> {
    let target = Target::parse(target)?;
    let users = Users::scan();
    let obj = resolve(&target, &users)?;
    let found = look::at(&obj, offset, true)?;
    if json {
        print_json(&view::found_json(&obj, offset, &found));
        return Ok(());
    }
    let users = match obj.pids.as_slice() {
        [] => "no process".to_string(),
        pids => pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    };
    let lifetime = match (obj.temporary, obj.stale) {
        (true, true) => "temporary, stale (no user left)",
        (true, false) => "temporary",
        _ => "permanent",
    };
    print!(
        "{} ({}, mode {:04o}, owner {})\n  mapped by    {users}\n  lifetime     {lifetime}\noffset {offset}: {}",
        obj.label(),
        view::size(obj.size),
        obj.mode,
        procs::user_name(obj.uid),
        match &found {
            Found::Channel(c) => view::channel_text(c),
            Found::Mutex(m) => view::mutex_text(m),
            Found::Unknown => "unknown bytes (neither a mapipc channel nor a mapipc mutex)\n".into(),
        }
    );
    Ok(())
}

/// What the library's collector removes, described before it goes.
fn gc(dry_run: bool, json: bool) -> Result<(), String> {
    let users = Users::scan();
    let mut stale: HashMap<String, Object> = Object::posix_names()
        .into_iter()
        .filter_map(|n| Object::posix(&n, &users).ok())
        .filter(|o| o.stale)
        .map(|o| (o.label(), o))
        .collect();
    let paths = mapipc::lifecycle::collect(dry_run).map_err(|e| format!("gc: {}", e.message()))?;
    let objects: Vec<Object> = paths
        .iter()
        .map(|p| format!("/{}", p.file_name().unwrap_or_default().to_string_lossy()))
        .map(|name| {
            stale
                .remove(&name)
                .unwrap_or_else(|| Object::gone(name, true, true))
        })
        .collect();
    if json {
        print_json(&Value::Array(
            objects.iter().map(view::object_json).collect(),
        ));
        return Ok(());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for o in &objects {
        println!("{verb} {} ({})", o.label(), view::size(o.size));
    }
    println!("{} stale temporary object(s) {verb}", objects.len());
    Ok(())
}

fn rm(targets: &[String]) -> Result<(), String> {
    let users = Users::scan();
    let mut failed = false;
    for t in targets {
        match rm_one(t, &users) {
            Ok(said) => println!("{said}"),
            Err(e) => {
                eprintln!("mapipc: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(String::new());
    }
    Ok(())
}

fn rm_one(target: &str, users: &Users) -> Result<String, String> {
    let still = |n: usize| match n {
        0 => "no process maps it".to_string(),
        1 => "1 process still maps it".to_string(),
        n => format!("{n} processes still map it"),
    };
    match Target::parse(target)? {
        Target::Posix(name) => {
            let obj = Object::posix(&name, users)?;
            let c =
                mapipc::shm::posix::name(&name).map_err(|e| format!("{name}: {}", e.message()))?;
            mapipc::shm::posix::unlink_name(&c).map_err(|e| format!("{name}: {}", e.message()))?;
            Ok(format!("removed {name}: {}", still(obj.pids.len())))
        }
        Target::File(path) => {
            let obj = Object::of_path(Kind::File, target.to_string(), &path, users)?;
            std::fs::remove_file(&path)
                .map_err(|e| format!("{target}: cannot remove: {}", object::cause(&e)))?;
            Ok(format!("removed {target}: {}", still(obj.pids.len())))
        }
        Target::SysvKey(key) => rm_sysv(sysv::id_of_key(key)?, users, still),
        Target::SysvId(id) => rm_sysv(id, users, still),
    }
}

fn rm_sysv(id: i32, users: &Users, still: impl Fn(usize) -> String) -> Result<String, String> {
    let obj = Object::sysv(id, users)?;
    sysv::remove(id)?;
    let attached = obj.nattch.map_or(obj.pids.len(), |n| n as usize);
    Ok(format!(
        "marked {} for deletion: {}",
        obj.label(),
        still(attached)
    ))
}
