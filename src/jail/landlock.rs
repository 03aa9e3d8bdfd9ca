//! Landlock: a second, kernel-enforced wall inside the mount namespace.
//! The command may read and execute anywhere, write (create, delete,
//! rename, truncate) only under `/job` and `/tmp`, use the device nodes in
//! `/dev`, make no TCP connections, and signal or reach abstract sockets of
//! no process outside its own domain. Read-only mounts already stop writes
//! elsewhere; landlock still holds if one of them were ever left writable.
//!
//! Best effort by ABI: on kernels older than the ABI asked for, the rights
//! they do not know are left unhandled. How much the kernel enforced is
//! reported in the outcome (`Outcome::landlock`, sent by the command's
//! process on the init's report pipe) and by `texjail doctor`. With
//! `[jail] landlock = "auto"` (the default) a run starts whatever the
//! kernel enforces, like `cgroup = "auto"`: the namespaces, mounts,
//! privileges and seccomp are the walls that must exist. With
//! `"required"` a run fails before its command starts when the kernel
//! enforces none of the policy; a partial policy (an older ABI: the
//! filesystem rules hold, newer rights such as TCP or scoping do not) is
//! accepted and reported as such.

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::{Deserialize, Serialize};

use super::outcome::{Enforcement, Landlock};
use super::JailError;

/// The newest ABI whose rights this policy names.
pub const POLICY_ABI: ABI = ABI::V6;

/// Whether a run needs landlock (`[jail] landlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LandlockMode {
    /// Enforce what the kernel can; run either way, and say how much.
    #[default]
    Auto,
    /// A run fails when the kernel enforces none of the policy.
    Required,
}

/// The policy with its rules added, not yet enforced. Built before the
/// rlimits go on, since adding rules opens a descriptor per path.
pub struct Prepared(RulesetCreated);

/// Builds the policy. Must run after the pivot into the jail's root.
pub fn prepare() -> Result<Prepared, JailError> {
    let abi = POLICY_ABI;
    let err = |e: &dyn std::fmt::Display| JailError::Setup(format!("landlock: {e}"));
    let write_everything = AccessFs::from_all(abi);
    let devices =
        AccessFs::from_read(abi) | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| err(&e))?
        .handle_access(AccessNet::from_all(abi))
        .map_err(|e| err(&e))?
        .scope(Scope::from_all(abi))
        .map_err(|e| err(&e))?
        .create()
        .map_err(|e| err(&e))?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(|e| err(&e))?
        .add_rules(path_beneath_rules(["/dev"], devices))
        .map_err(|e| err(&e))?
        .add_rules(path_beneath_rules(["/job", "/tmp"], write_everything))
        .map_err(|e| err(&e))?;
    Ok(Prepared(ruleset))
}

impl Prepared {
    /// Enforces the policy on the calling process and its future
    /// children, and says how much of it the kernel enforces. Must run
    /// after `no_new_privs`.
    pub fn restrict_self(self) -> Result<Landlock, JailError> {
        let status = self
            .0
            .restrict_self()
            .map_err(|e| JailError::Setup(format!("landlock: {e}")))?;
        Ok(status_of(&status.ruleset, status.landlock))
    }
}

/// The crate's enforcement status as the outcome states it; the ABI is
/// the kernel's own version, also when it is newer than this crate knows.
fn status_of(ruleset: &RulesetStatus, kernel: landlock::LandlockStatus) -> Landlock {
    let enforcement = match ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::NotEnforced,
    };
    let abi = match kernel {
        landlock::LandlockStatus::Available {
            kernel_abi: Some(version),
            ..
        } => version,
        landlock::LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        _ => 0,
    };
    Landlock {
        enforcement,
        abi: abi.max(0) as u32,
    }
}

/// Whether a run may go on with `status` under `mode`: an error only when
/// landlock is required and enforces nothing.
pub fn check(mode: LandlockMode, status: Landlock) -> Result<(), JailError> {
    if mode == LandlockMode::Required && status.enforcement == Enforcement::NotEnforced {
        return Err(JailError::Setup(
            "landlock is required ([jail] landlock = \"required\") but the kernel enforces none \
             of it (no landlock, or not in the lsm= list)"
                .into(),
        ));
    }
    Ok(())
}

/// The status as two bytes, for the init's report pipe (written between
/// fork and exec: no allocation).
pub fn encode(status: Landlock) -> [u8; 2] {
    let enforcement = match status.enforcement {
        Enforcement::Full => b'F',
        Enforcement::Partial => b'P',
        Enforcement::NotEnforced => b'N',
    };
    [enforcement, status.abi.min(255) as u8]
}

/// The status of [`encode`]'s bytes; `None` for anything else.
pub fn decode(bytes: [u8; 2]) -> Option<Landlock> {
    let enforcement = match bytes[0] {
        b'F' => Enforcement::Full,
        b'P' => Enforcement::Partial,
        b'N' => Enforcement::NotEnforced,
        _ => return None,
    };
    Some(Landlock {
        enforcement,
        abi: u32::from(bytes[1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(effective_abi: ABI, kernel_abi: Option<i32>) -> landlock::LandlockStatus {
        landlock::LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        }
    }

    #[test]
    fn the_crates_status_maps_to_the_outcomes() {
        let full = status_of(&RulesetStatus::FullyEnforced, available(ABI::V7, None));
        assert_eq!(
            full,
            Landlock {
                enforcement: Enforcement::Full,
                abi: 7
            }
        );
        let partial = status_of(&RulesetStatus::PartiallyEnforced, available(ABI::V3, None));
        assert_eq!(
            partial,
            Landlock {
                enforcement: Enforcement::Partial,
                abi: 3
            }
        );
        // A kernel newer than the crate: its own version is reported.
        let newer = status_of(&RulesetStatus::FullyEnforced, available(ABI::V10, Some(12)));
        assert_eq!(newer.abi, 12);
        for absent in [
            landlock::LandlockStatus::NotEnabled,
            landlock::LandlockStatus::NotImplemented,
        ] {
            assert_eq!(
                status_of(&RulesetStatus::NotEnforced, absent),
                Landlock {
                    enforcement: Enforcement::NotEnforced,
                    abi: 0
                }
            );
        }
    }

    #[test]
    fn only_a_required_landlock_that_enforces_nothing_stops_a_run() {
        let with = |enforcement| Landlock {
            enforcement,
            abi: 3,
        };
        for enforcement in [
            Enforcement::Full,
            Enforcement::Partial,
            Enforcement::NotEnforced,
        ] {
            assert!(check(LandlockMode::Auto, with(enforcement)).is_ok());
        }
        assert!(check(LandlockMode::Required, with(Enforcement::Full)).is_ok());
        assert!(check(LandlockMode::Required, with(Enforcement::Partial)).is_ok());
        let err = check(LandlockMode::Required, with(Enforcement::NotEnforced)).unwrap_err();
        assert!(err.to_string().contains("landlock is required"), "{err}");
    }

    #[test]
    fn the_status_survives_the_report_pipe() {
        for enforcement in [
            Enforcement::Full,
            Enforcement::Partial,
            Enforcement::NotEnforced,
        ] {
            for abi in [0, 6, 255] {
                let status = Landlock { enforcement, abi };
                assert_eq!(decode(encode(status)), Some(status));
            }
        }
        assert_eq!(decode([b'?', 6]), None);
    }

    #[test]
    fn modes_are_read_from_config_words() {
        let mode: LandlockMode = serde_json::from_str("\"required\"").unwrap();
        assert_eq!(mode, LandlockMode::Required);
        assert_eq!(LandlockMode::default(), LandlockMode::Auto);
        assert!(serde_json::from_str::<LandlockMode>("\"off\"").is_err());
    }
}
