//! The command line, as clap sees it: shared by the command and by the man
//! page generator, so the page always says what the command accepts.

use clap::{Parser, Subcommand};

/// ipcs/ipcrm for mapipc: see and clean POSIX shared memory (/dev/shm) and
/// System V segments, and look inside mapipc channels and mutexes.
#[derive(Debug, Parser)]
#[command(name = "mapipc", version, propagate_version = true)]
#[command(after_help = TARGETS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How a TARGET is read; shown by every --help that takes one.
pub const TARGETS: &str = "\
A TARGET is /name (one leading slash, no other: a POSIX object), 0x... hex or a \
decimal number (a System V key), id:N (a System V id), or any other path (a file).

Exit status: 0 on success, 1 when an operation fails (message on stderr starting \
\"mapipc: \"), 2 for a usage error.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every POSIX object in /dev/shm and every System V segment:
    /// kind, name or key and id, size, mode, owner, the live processes
    /// that map it, whether it is temporary or stale, and the state of a
    /// mapipc channel at its offset 0.
    Ls {
        /// Print one JSON array on stdout instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what is at an offset of a target (a channel, a mutex, or
    /// unknown bytes) without disturbing it: it only reads.
    #[command(after_help = TARGETS)]
    Inspect {
        /// The object to look into.
        target: String,
        /// Byte offset into the object.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Print one JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove every stale temporary object in /dev/shm (what mapipc_gc
    /// does), naming each.
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON array on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove POSIX names and files, mark System V segments for deletion;
    /// say how many processes still map each. Goes on past a target that
    /// fails, then exits 1.
    #[command(after_help = TARGETS)]
    Rm {
        /// The objects to remove.
        #[arg(required = true)]
        targets: Vec<String>,
    },
}
