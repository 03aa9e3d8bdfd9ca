//! The `texjail` command line: parses flags into the one `Config` and hands
//! over to its front-end in `texjail::cli`. No logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use texjail::cli;
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
    /// Run the HTTP service: upload page, JSON API under /api/v1, results under /r/.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; service.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Where results, the cache and uploads live (data_dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Separate origin serving results, e.g. https://results.example.org.
        #[arg(long, value_name = "ORIGIN")]
        results_origin: Option<String>,
        /// File of API tokens, one per line; API calls then need a Bearer token.
        #[arg(long, value_name = "FILE")]
        api_token_file: Option<PathBuf>,
        /// Conversions that run at once (default: CPU count).
        #[arg(long, value_name = "N")]
        slots: Option<u32>,
        /// Jobs that may wait for a slot before uploads get 503.
        #[arg(long, value_name = "N")]
        queue_capacity: Option<u32>,
        /// The NATS server (JetStream) of a cluster, e.g. nats://10.0.0.5:4222 (cluster.nats_url).
        #[arg(long, value_name = "URL")]
        nats_url: Option<String>,
        /// In a cluster: api (uploads and answers), worker (conversions) or all (cluster.role).
        #[arg(long, value_name = "ROLE")]
        role: Option<texjail::config::cluster::Role>,
    },
    /// Convert a LaTeX project (directory, .tex, .zip or .tar.gz) or a Jupyter notebook (.ipynb) into OUTDIR.
    ///
    /// Exit codes: 0 converted, 1 conversion failed, 2 bad input, 3 jail or internal error.
    Convert {
        /// The project: a directory, a .tex file, a .ipynb notebook, a .zip or a .tar.gz.
        project: PathBuf,
        /// Where the result goes (index.html, fragment.html, assets/, log.txt, result.json).
        #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
        out_dir: PathBuf,
        /// auto (LaTeXML, then make4ht, then pandoc; notebook for a notebook), latexml, make4ht, pandoc or notebook.
        #[arg(long, default_value = "auto")]
        converter: texjail::convert::Converter,
        /// The main .tex file or notebook, relative to the project root (default: detected).
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
        /// Run a Python notebook's code cells in the jail before rendering it.
        #[arg(long)]
        execute: bool,
        /// With --execute: each cell's time limit in seconds, at most convert.notebook_cell_timeout_secs.
        #[arg(long, value_name = "SECS", requires = "execute")]
        cell_timeout: Option<u64>,
        /// With --execute: memory in bytes (per process and for the run), at most convert.notebook_execute_memory_bytes.
        #[arg(long, value_name = "BYTES", requires = "execute")]
        memory: Option<u64>,
    },
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
        /// Memory limit: each process's address space, and the whole job when
        /// a job cgroup is in force (jail.cgroup; default: jail.memory_bytes).
        #[arg(long, value_name = "BYTES")]
        memory: Option<u64>,
        /// Concurrency slot (root mode: uid jail.uid_base + SLOT).
        #[arg(long, default_value_t = 0)]
        slot: u32,
        /// Working directory inside the jail (default /job).
        #[arg(long, value_name = "DIR")]
        workdir: Option<String>,
        /// Extra environment variable for the command (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = cli::jail_run::parse_env)]
        env: Vec<(String, String)>,
        /// Print the outcome as JSON instead of passing output through.
        #[arg(long)]
        json: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        argv: Vec<String>,
    },
    /// Run a Python program in the jail; exit with its code (2: refused, 3: jail failure).
    Run {
        /// The program; it runs in /job, its working directory.
        script: PathBuf,
        /// Another file placed in /job beside the program (repeatable).
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// File whose bytes are the program's stdin (UTF-8).
        #[arg(long, value_name = "FILE")]
        stdin: Option<PathBuf>,
        /// Directory receiving the files the program wrote in /job.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Wall-clock limit in seconds, at most run.timeout_secs.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Address space per process in bytes, at most run.memory_bytes.
        #[arg(long, value_name = "BYTES")]
        memory: Option<u64>,
        /// Print the answer as JSON (the API's) instead of passing output through.
        #[arg(long)]
        json: bool,
        /// The program's arguments (after `--`).
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Validate an archive (or a project directory) without converting it; exit 0 when accepted, 2 when rejected.
    Inspect {
        /// The .zip, .tar, .tar.gz or .tex file (format read from content), or a directory.
        archive: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert every project archive in DIRS and print a status table (`make corpus`).
    #[command(hide = true)]
    Corpus {
        /// Folders whose .zip/.tar.gz/.tex files are converted.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "auto")]
        converter: texjail::convert::Converter,
        /// Wall-clock limit per project, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Conversions at once (each in its own jail slot).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Pass each folder's MANIFEST.tsv main file like --main (a user
        /// uploading a project names none, so by default none is passed).
        #[arg(long)]
        manifest_main: bool,
    },
    /// Internal: a kernel feature probe run in a fresh process.
    #[command(name = "__probe", hide = true)]
    Probe { what: String },
}

fn main() -> ExitCode {
    // Every conversion assembles its result in a child: skip the parser
    // on that hot path.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(texjail::convert::bounded::SUBCOMMAND))
    {
        return ExitCode::from(texjail::convert::bounded::child_main() as u8);
    }
    let cli = Cli::parse();
    if let Command::Probe { what } = &cli.command {
        return if texjail::jail::probe::run_probe(what) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
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
    let code = dispatch(cli.command, config);
    // Lets the jail spawner reap its last supervisors before we exit.
    texjail::jail::spawner::shutdown();
    code
}

fn dispatch(command: Command, mut config: Config) -> ExitCode {
    match command {
        Command::Serve {
            listen,
            data_dir,
            results_origin,
            api_token_file,
            slots,
            queue_capacity,
            nats_url,
            role,
        } => {
            let service = &mut config.service;
            service.listen = listen.unwrap_or(service.listen.clone());
            service.results_origin = results_origin.unwrap_or(service.results_origin.clone());
            service.api_token_file = api_token_file.unwrap_or(service.api_token_file.clone());
            service.slots = slots.unwrap_or(service.slots);
            service.queue_capacity = queue_capacity.unwrap_or(service.queue_capacity);
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            config.cluster.nats_url = nats_url.unwrap_or(config.cluster.nats_url);
            config.cluster.role = role.unwrap_or(config.cluster.role);
            cli::serve::run(config)
        }
        Command::Doctor => cli::doctor::run(&config),
        Command::Convert {
            project,
            out_dir,
            converter,
            main,
            timeout,
            json,
            no_cache,
            execute,
            cell_timeout,
            memory,
        } => {
            // Quiet unless asked: `RUST_LOG=texjail=debug` shows phase timings.
            texjail::logging::init("warn");
            cli::convert::run(
                config,
                &cli::convert::Request {
                    project,
                    out_dir,
                    converter,
                    main,
                    timeout: timeout.map(Duration::from_secs),
                    json,
                    no_cache,
                    execute: execute.then_some(texjail::job::Execute {
                        cell_timeout_secs: cell_timeout,
                        memory_bytes: memory,
                    }),
                },
            )
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
        } => cli::jail_run::run(
            &config,
            cli::jail_run::JailRun {
                job,
                out,
                timeout_secs: timeout,
                memory_bytes: memory,
                slot,
                workdir,
                env,
                json,
                argv,
            },
        ),
        Command::Run {
            script,
            files,
            stdin,
            out,
            timeout,
            memory,
            json,
            args,
        } => cli::run::run(
            &config,
            cli::run::Run {
                script,
                files,
                stdin,
                out,
                timeout_secs: timeout,
                memory_bytes: memory,
                json,
                args,
            },
        ),
        Command::Inspect { archive, json } => cli::inspect::run(&config, &archive, json),
        Command::Corpus {
            dirs,
            converter,
            timeout,
            jobs,
            manifest_main,
        } => cli::corpus::run(
            config,
            &dirs,
            cli::corpus::Run {
                converter,
                timeout: Duration::from_secs(timeout),
                jobs,
                manifest_main,
            },
        ),
        Command::Probe { .. } => unreachable!("handled before the config loads"),
    }
}
