//! The `texjail` command line: parses flags into the one `Config` and hands
//! over to the module that does the work. No logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use texjail::config::Config;

#[derive(Parser)]
#[command(
    name = "texjail",
    version,
    about = "Turn LaTeX projects into safe HTML, converters jailed"
)]
struct Cli {
    /// TOML config file (default: $TEXJAIL_CONFIG if set).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The jail's root filesystem (default: the build.sh cache for this binary's digest).
    #[arg(long, global = true, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check kernel features, the rootfs and every converter; exit 0 when all are usable.
    Doctor,
    /// Convert a LaTeX project (directory, .tex, .zip or .tar.gz) into OUTDIR.
    ///
    /// Exit codes: 0 converted, 1 conversion failed, 2 bad input, 3 jail or internal error.
    Convert {
        /// The project: a directory, a .tex file, a .zip or a .tar.gz.
        project: PathBuf,
        /// Where the result goes (index.html, fragment.html, assets/, log.txt, result.json).
        #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
        out_dir: PathBuf,
        /// auto (LaTeXML, then make4ht, then pandoc), latexml, make4ht or pandoc.
        #[arg(long, default_value = "auto")]
        converter: texjail::convert::Converter,
        /// The main .tex file, relative to the project root (default: detected).
        #[arg(long)]
        main: Option<String>,
        /// Wall-clock limit of the whole job, in seconds.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Print the result (or error) as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Convert even when a cached result exists, and store nothing.
        #[arg(long)]
        no_cache: bool,
    },
    /// Internal: a kernel feature probe run in a fresh process.
    #[command(name = "__probe", hide = true)]
    Probe { what: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Probe { what } = &cli.command {
        return exit(texjail::jail::probe::run_probe(what));
    }
    let mut config = match Config::from_process_env(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("texjail: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(rootfs) = cli.rootfs {
        config.rootfs = rootfs;
    }
    match cli.command {
        Command::Doctor => {
            let checks = texjail::doctor::run(&config);
            print!("{}", texjail::doctor::render(&checks));
            exit(texjail::doctor::healthy(&checks))
        }
        Command::Convert {
            project,
            out_dir,
            converter,
            main,
            timeout,
            json,
            no_cache,
        } => texjail::convert::command::run(
            config,
            &texjail::convert::command::Request {
                project,
                out_dir,
                converter,
                main,
                timeout: timeout.map(std::time::Duration::from_secs),
                json,
                no_cache,
            },
        ),
        Command::Probe { .. } => unreachable!("handled before the config loads"),
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
