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
    /// Run one command in the jail: DIR's files in /job, /job copied back to --out.
    JailRun {
        /// Directory whose files are copied into /job.
        #[arg(long, value_name = "DIR")]
        job: Option<PathBuf>,
        /// Existing empty directory receiving /job after the run.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Wall-clock limit (default: jail.timeout_secs).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Memory limit: each process's address space, and the whole job with
        /// jail.cgroup = "v1" (default: jail.memory_bytes).
        #[arg(long, value_name = "BYTES")]
        memory: Option<u64>,
        /// Concurrency slot (root mode: uid jail.uid_base + SLOT).
        #[arg(long, default_value_t = 0)]
        slot: u32,
        /// Working directory inside the jail (default /job).
        #[arg(long, value_name = "DIR")]
        workdir: Option<String>,
        /// Extra environment variable for the command (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = texjail::jail::cli::parse_env)]
        env: Vec<(String, String)>,
        /// Print the outcome as JSON instead of passing output through.
        #[arg(long)]
        json: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        argv: Vec<String>,
    },
    /// Internal: the jail supervisor, reading its run spec on stdin.
    #[command(name = "__jail", hide = true)]
    Jail,
    /// Internal: a kernel feature probe run in a fresh process.
    #[command(name = "__probe", hide = true)]
    Probe { what: String },
}

fn main() -> ExitCode {
    // Every jail run starts a supervisor: skip the parser on that hot path.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(texjail::jail::SUPERVISOR_SUBCOMMAND))
    {
        return ExitCode::from(texjail::jail::supervisor::main() as u8);
    }
    let cli = Cli::parse();
    if let Command::Probe { what } = &cli.command {
        return exit(texjail::jail::probe::run_probe(what));
    }
    if let Command::Jail = &cli.command {
        return ExitCode::from(texjail::jail::supervisor::main() as u8);
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
        Command::JailRun {
            job,
            out,
            timeout,
            memory,
            slot,
            workdir,
            env,
            json,
            argv,
        } => {
            let opts = texjail::jail::cli::JailRun {
                job,
                out,
                timeout_secs: timeout,
                memory_bytes: memory,
                slot,
                workdir,
                env,
                json,
                argv,
            };
            let code = texjail::jail::cli::jail_run(config.rootfs.clone(), &config.jail, opts);
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Command::Probe { .. } | Command::Jail => unreachable!("handled before the config loads"),
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
