//! What a package installs beside a binary, generated from the binary's own command line definition so it
//! never drifts from `--help`: man pages (one for the command, one per subcommand, as git does) and shell
//! completions for bash, zsh and fish.
//!
//! Every pincore binary calls [`generate_if_asked`] first thing in `main`; the packaging script runs
//! `BINARY generate-dist-files DIR` and gets `DIR/man1/*.1` and `DIR/completions/{bash,zsh,fish}/...`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::exit;

use clap::CommandFactory;
use clap_complete::Shell;

/// The word after the binary's name that asks for the generated files (not shown in `--help`).
pub const GENERATE: &str = "generate-dist-files";

/// The version line every binary prints: the package version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PINCORE_COMMIT"),
    ")"
);

/// If the command line is `BINARY generate-dist-files DIR`, writes the man pages and completions of `C`
/// into DIR and exits (0, or 1 with the error); otherwise returns and the binary parses its arguments.
pub fn generate_if_asked<C: CommandFactory>() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(GENERATE.as_ref()) {
        return;
    }
    let name = C::command().get_name().to_owned();
    let result = match (args.next(), args.next()) {
        (Some(dir), None) => generate(C::command(), Path::new(&dir)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("usage: {name} {GENERATE} DIR"),
        )),
    };
    match result {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            exit(0)
        }
        Err(e) => {
            eprintln!("{name}: {GENERATE}: {e}");
            exit(1)
        }
    }
}

/// Writes `dir/man1/NAME.1`, `dir/man1/NAME-SUB.1` per visible subcommand (nested ones too) and the three
/// completion scripts under their shells' standard file names; returns the paths written.
pub fn generate(command: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut command = command.version(VERSION);
    command.build();
    let mut written = Vec::new();
    let man_dir = dir.join("man1");
    fs::create_dir_all(&man_dir)?;
    write_manuals(&command, command.get_name(), &man_dir, &mut written)?;

    let name = command.get_name().to_owned();
    for (shell, sub, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let shell_dir = dir.join("completions").join(sub);
        fs::create_dir_all(&shell_dir)?;
        let path = shell_dir.join(file);
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut command.clone(), &name, &mut out);
        fs::write(&path, out)?;
        written.push(path);
    }
    Ok(written)
}

fn write_manuals(
    command: &clap::Command,
    page: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let path = dir.join(format!("{page}.1"));
    let mut out = Vec::new();
    // A subcommand's page is titled with its full name (`pincore-tuner-apply`), as `man pincore-tuner-apply` finds it.
    let titled = command.clone().name(page.to_owned());
    clap_mangen::Man::new(titled).render(&mut out)?;
    fs::write(&path, out)?;
    written.push(path);
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_manuals(sub, &format!("{page}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
