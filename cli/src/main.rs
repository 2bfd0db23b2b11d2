//! The `mapipc` command. Owns argument parsing and output for people and
//! scripts; every operation on shared memory is the library's, so the
//! command must not touch an object in a way the library would not.

use std::process::ExitCode;

const USAGE: &str = "usage: mapipc [--help | --version]

The mapipc command line. The library's version is printed by --version.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--version"] | ["-V"] => {
            println!("mapipc {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
