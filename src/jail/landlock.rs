//! Landlock: a second, kernel-enforced wall inside the mount namespace.
//! The command may read and execute anywhere, write (create, delete,
//! rename, truncate) only under `/job` and `/tmp`, use the device nodes in
//! `/dev`, make no TCP connections, and signal or reach abstract sockets of
//! no process outside its own domain. Read-only mounts already stop writes
//! elsewhere; landlock still holds if one of them were ever left writable.
//!
//! Best effort by ABI: on kernels older than the ABI asked for, the rights
//! they do not know are left unhandled, and the run still starts (the
//! namespaces, mounts and seccomp are the walls that must exist).

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::JailError;

/// The newest ABI whose rights this policy names.
const POLICY_ABI: ABI = ABI::V6;

/// How much of the policy the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Full,
    Partial,
    None,
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
    /// children. Must run after `no_new_privs`.
    pub fn restrict_self(self) -> Result<Enforcement, JailError> {
        let status = self
            .0
            .restrict_self()
            .map_err(|e| JailError::Setup(format!("landlock: {e}")))?;
        Ok(match status.ruleset {
            RulesetStatus::FullyEnforced => Enforcement::Full,
            RulesetStatus::PartiallyEnforced => Enforcement::Partial,
            RulesetStatus::NotEnforced => Enforcement::None,
        })
    }
}
