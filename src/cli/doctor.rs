//! `texjail doctor`: checks everything the service needs and prints a
//! table; one line per failure says what to do. Exit 0 only when every
//! required check passes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::jail::{self, probe, Mode, RunSpec};
use crate::pipeline::nats::Nats;
use crate::shared::store::SharedResults;
use crate::shared::ResultStore;
use crate::toolchain::{self, Rootfs};

/// `texjail doctor`: prints every check; exit 0 when all are usable.
pub fn run(config: &Config) -> ExitCode {
    let checks = checks(config);
    print!("{}", render(&checks));
    if healthy(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One row of the doctor's table.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// A failed optional check is reported but does not fail the doctor.
    pub required: bool,
    pub detail: String,
    /// What to do when the check fails.
    pub fix: String,
}

/// Converters the pipeline runs, with the argument that makes each print
/// its version.
const CONVERTERS: [(&str, &str); 6] = [
    ("latexml", "--VERSION"),
    ("make4ht", "--version"),
    ("pandoc", "--version"),
    ("pdflatex", "--version"),
    ("biber", "--version"),
    ("python3", "--version"),
];

pub fn checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let root = nix::unistd::geteuid().is_root();

    for (name, _) in probe::NAMESPACES {
        // As root the user namespace is not needed: root mode uses per-slot
        // uids instead.
        let required = !(root && name == "user");
        let found = probe::in_child(&format!("ns-{name}"));
        checks.push(Check {
            name: format!("namespace: {name}"),
            ok: found.ok,
            required,
            detail: found.detail,
            fix: if name == "user" {
                "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, \
                 user.max_user_namespaces>0) or run texjail as root"
                    .into()
            } else {
                format!(
                    "the kernel must allow creating {name} namespaces (CONFIG_{}_NS)",
                    name.to_uppercase()
                )
            },
        });
    }

    let mode_ok = root || checks.iter().any(|c| c.name == "namespace: user" && c.ok);
    let mode = Mode::current();
    checks.push(Check {
        name: "jail mode".into(),
        ok: mode_ok,
        required: true,
        detail: match (mode, mode_ok) {
            (Mode::Root, _) => format!(
                "root (running as uid 0): slot N runs as uid/gid {}+N, no user namespace needed",
                config.jail.uid_base
            ),
            (Mode::Rootless, true) => format!(
                "rootless (running as uid {}): a user namespace maps this user; jobs run without capabilities",
                nix::unistd::geteuid()
            ),
            (Mode::Rootless, false) => "rootless, but user namespaces are unavailable".into(),
        },
        fix: "run as root, or enable unprivileged user namespaces".into(),
    });

    let seccomp = probe::in_child("seccomp");
    checks.push(Check {
        name: "seccomp filter".into(),
        ok: seccomp.ok,
        required: true,
        detail: seccomp.detail,
        fix: "the kernel needs CONFIG_SECCOMP_FILTER".into(),
    });

    let rootfs = Rootfs::open(&config.rootfs);
    checks.push(landlock_check(config, rootfs.as_ref().ok()));

    checks.push(cgroup_check(config));

    checks.push(match &rootfs {
        Ok(r) => Check {
            name: "rootfs".into(),
            ok: true,
            required: true,
            detail: format!("{} (digest {})", r.path.display(), &r.digest[..16]),
            fix: String::new(),
        },
        Err(e) => Check {
            name: "rootfs".into(),
            ok: false,
            required: true,
            detail: format!(
                "{} (expects digest {})",
                config.rootfs.display(),
                &toolchain::expected_digest()[..16]
            ),
            fix: e.to_string(),
        },
    });

    for (converter, flag) in CONVERTERS {
        let check = match &rootfs {
            Ok(r) => converter_check(config, &r.path, converter, flag),
            Err(_) => Check {
                name: format!("converter: {converter}"),
                ok: false,
                required: true,
                detail: "skipped: no rootfs".into(),
                fix: "build the rootfs first (toolchain-rootfs/build.sh)".into(),
            },
        };
        checks.push(check);
    }
    if !config.cluster.role.converts() {
        // An API node runs no jail: what it lacks for one is only shown.
        for check in &mut checks {
            check.required = false;
        }
    }
    checks.extend(shared_checks(config));
    checks
}

/// The servers a deployment shares, when it names them: the shared
/// storage (a read of a result no one stored) and the cluster's NATS
/// server (connecting and declaring its streams and buckets, as `serve`
/// does). Both are required: a node cannot work without them.
fn shared_checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    if !config.shared.enabled() && !config.cluster.enabled() {
        return checks;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            checks.push(Check {
                name: "shared servers".into(),
                ok: false,
                required: true,
                detail: format!("cannot start an async runtime: {e}"),
                fix: String::new(),
            });
            return checks;
        }
    };
    if config.shared.enabled() {
        let probe = runtime.block_on(async {
            let store = SharedResults::open(&config.shared)?;
            let scratch = tempfile::tempdir()?;
            store.fetch(&"0".repeat(64), scratch.path()).await
        });
        let place = if config.shared.url.is_empty() {
            format!("bucket {}", config.shared.s3_bucket)
        } else {
            config.shared.url.clone()
        };
        checks.push(Check {
            name: "shared storage".into(),
            ok: probe.is_ok(),
            required: true,
            detail: match &probe {
                Ok(_) => format!("{place}: readable"),
                Err(e) => format!("{place}: {e}"),
            },
            fix:
                "check [shared] (url, s3_bucket, s3_endpoint) and the AWS_* or AZURE_* credentials"
                    .into(),
        });
    }
    if config.cluster.enabled() {
        let shown = config.cluster.nats_url_shown();
        let connected = runtime.block_on(Nats::open(config));
        checks.push(Check {
            name: "cluster: NATS JetStream".into(),
            ok: connected.is_ok(),
            required: true,
            detail: match &connected {
                Ok(_) => format!(
                    "{shown}: the queue, job records, events and leases are there (role {})",
                    config.cluster.role.name()
                ),
                Err(e) => format!("{shown}: {e}"),
            },
            fix: "start nats-server with JetStream (-js -sd DIR) and check cluster.nats_url".into(),
        });
    }
    checks
}

/// Landlock as a real jail run gets it (`true` run in the jail): how much
/// of the policy the kernel enforces and its ABI version, from the run's
/// outcome. Full enforcement is ok; partial is a warning (runs go on
/// without the rights the kernel does not know); none is a warning, or a
/// failure when `[jail] landlock = "required"`, which then fails every
/// run. Without a rootfs only the kernel's ABI is shown.
fn landlock_check(config: &Config, rootfs: Option<&Rootfs>) -> Check {
    let mode = config.jail.landlock;
    let required = mode == jail::limits::LandlockMode::Required;
    let setting = format!(
        "[jail] landlock = {}",
        serde_json::to_value(mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    let fix = "boot with landlock in the lsm= list (CONFIG_SECURITY_LANDLOCK); a kernel \
               of ABI 6 (Linux 6.12) or newer enforces all of the policy"
        .to_string();
    let policy = jail::landlock::POLICY_ABI as i32;
    let Some(rootfs) = rootfs else {
        let abi = probe::landlock_abi();
        return Check {
            name: "landlock".into(),
            ok: abi > 0,
            required: false,
            detail: format!("kernel ABI {abi}; not checked in the jail: no rootfs; {setting}"),
            fix,
        };
    };
    let outcome = jail::supervisor_exe()
        .map_err(|e| format!("cannot find own executable: {e}"))
        .and_then(|exe| {
            let mut limits = config.jail.clone();
            limits.timeout_secs = limits.timeout_secs.min(60);
            let spec = RunSpec::new(exe, rootfs.path.clone(), vec!["true".into()], limits);
            jail::run(&spec).map_err(|e| format!("jail run failed: {e}"))
        });
    let (ok, required, detail) = match outcome.map(|o| o.landlock) {
        Ok(Some(status)) => {
            let (ok, required) = match status.enforcement {
                jail::Enforcement::Full => (true, required),
                jail::Enforcement::Partial => (false, false),
                jail::Enforcement::NotEnforced => (false, required),
            };
            let detail = format!(
                "{} in the jail (kernel ABI {}, policy ABI {policy}); {setting}",
                status.enforcement.describe(),
                status.abi
            );
            (ok, required, detail)
        }
        Ok(None) => (
            false,
            required,
            "the jail run reported no landlock status".into(),
        ),
        Err(e) => (false, required, format!("{e}; {setting}")),
    };
    Check {
        name: "landlock".into(),
        ok,
        required,
        detail,
        fix,
    }
}

/// Runs `CONVERTER FLAG` in the jail on the rootfs (the same isolation
/// and limits every conversion gets) and keeps its first line.
fn converter_check(config: &Config, rootfs: &Path, converter: &str, flag: &str) -> Check {
    let name = format!("converter: {converter}");
    let fix = format!(
        "{converter} does not answer {flag} in the jail: check the jail rows above, \
         or rebuild the rootfs with toolchain-rootfs/build.sh"
    );
    let exe = match jail::supervisor_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return Check {
                name,
                ok: false,
                required: true,
                detail: format!("cannot find own executable: {e}"),
                fix,
            }
        }
    };
    let mut limits = config.jail.clone();
    limits.timeout_secs = limits.timeout_secs.min(60);
    let spec = RunSpec::new(
        exe,
        rootfs.to_path_buf(),
        vec![converter.to_string(), flag.to_string()],
        limits,
    );
    let (ok, detail) = match jail::run(&spec) {
        Ok(outcome) => {
            let text = outcome.stdout.clone() + &outcome.stderr;
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            (outcome.success(), first)
        }
        Err(e) => (false, format!("jail failed: {e}")),
    };
    Check {
        name,
        ok,
        required: true,
        detail,
        fix,
    }
}

/// Which cgroups would confine each job and what they cap; resolved as
/// a run resolves them (for v2 that may move this process into the
/// service's leaf cgroup, as the first run would). Only a mode that
/// requires cgroups it cannot have fails; `auto` without any warns.
fn cgroup_check(config: &Config) -> Check {
    use jail::cgroup::{self, CgroupMode, Host, Selection};
    let root = &config.jail.cgroup_root;
    let mode = config.jail.cgroup;
    let (v2, v1) = probe::cgroup_controllers(root);
    let found = format!(
        "v2 controllers: {}; v1 hierarchies: {}",
        list_or_none(&v2),
        list_or_none(&v1)
    );
    let selection = cgroup::select(mode, root, &Host::current(std::process::id()));
    let (ok, required, detail, fix) = match selection {
        Ok(Selection {
            backend: Some(backend),
            ..
        }) => {
            let place = match &backend {
                cgroup::Backend::V1 { root } => format!("hierarchies under {}", root.display()),
                cgroup::Backend::V2 { base } => format!("job cgroups under {}", base.display()),
            };
            (
                true,
                mode != CgroupMode::Auto,
                format!(
                    "[jail] cgroup = {mode}: {} in force ({place}): each job is capped as a whole",
                    backend.report().describe()
                ),
                String::new(),
            )
        }
        Ok(Selection {
            backend: None,
            note,
        }) => (
            mode == CgroupMode::Off,
            false,
            format!(
                "[jail] cgroup = {mode}: no cgroup in force, jobs are not capped as a whole \
                 (rlimits, tmpfs caps and timeouts hold); {found}"
            ),
            format!(
                "{}; for job-wide memory and process caps run as root with the v1 memory and \
                 pids hierarchies mounted, or give texjail a cgroup v2 of its own with memory \
                 and pids delegated (systemd: Delegate=yes)",
                note.unwrap_or_default()
            ),
        ),
        Err(missing) => (
            false,
            true,
            format!("[jail] cgroup = {mode}: required but not usable here; {found}"),
            missing,
        ),
    };
    Check {
        name: "cgroups".into(),
        ok,
        required,
        detail,
        fix,
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(",")
    }
}

/// The table, then one `fix:` line per failed check.
pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let status = match (c.ok, c.required) {
            (true, _) => "ok",
            (false, true) => "FAIL",
            (false, false) => "warn",
        };
        let _ = writeln!(out, "{:<width$}  {:<4}  {}", c.name, status, c.detail);
    }
    for c in checks.iter().filter(|c| !c.ok && !c.fix.is_empty()) {
        let _ = writeln!(out, "fix: {}: {}", c.name, c.fix);
    }
    out
}

/// True when every required check passed.
pub fn healthy(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.ok || !c.required)
}
