//! Writes the mapipc(1) man page, generated from the command's argument
//! definitions, to the file named by its only argument (or stdout).

use clap::CommandFactory;
use clap_mangen::Man;

#[path = "args.rs"]
mod args;

fn main() -> std::io::Result<()> {
    let cmd = args::Cli::command();
    let mut page = Vec::new();
    Man::new(cmd.clone()).render(&mut page)?;
    // The command list points at pages of their own; they are sections here.
    let mut page = String::from_utf8_lossy(&page).into_owned();
    for name in cmd.get_subcommands().map(|s| s.get_name()).chain(["help"]) {
        page = page.replace(
            &format!("mapipc\\-{name}(1)"),
            &format!("\\fBmapipc {name}\\fR"),
        );
    }
    let mut page = page.into_bytes();
    // Then one section per command, its own parts as subsections, so that
    // `man mapipc` documents every option of every command.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let full = sub.clone().bin_name(format!("mapipc {}", sub.get_name()));
        let man = Man::new(full);
        let mut parts = Vec::new();
        man.render_synopsis_section(&mut parts)?;
        man.render_description_section(&mut parts)?;
        man.render_options_section(&mut parts)?;
        let parts = String::from_utf8_lossy(&parts).replace(".SH ", ".SS ");
        page.extend_from_slice(
            format!(".SH \"MAPIPC {}\"\n", sub.get_name().to_uppercase()).as_bytes(),
        );
        page.extend_from_slice(parts.as_bytes());
    }
    match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(path, page),
        None => std::io::Write::write_all(&mut std::io::stdout(), &page),
    }
}
