//! What the deploy function keeps per target beside its rollout record: who drives the
//! rollout now, and what was asked while it was driven.

use serde::{Deserialize, Serialize};

use crate::planner::deploy::DeployRecord;
use crate::records::lease::{Lease, Leased};

/// A target's record as stored: the rollout and who drives it now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeployState {
    /// The rollout.
    #[serde(flatten)]
    pub record: DeployRecord,
    /// The invocation driving it, until when.
    #[serde(flatten)]
    pub lease: Lease,
}

impl Leased for DeployState {
    fn lease(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

/// What a target was asked while another invocation drove it; the driver takes it up at its
/// next step, the schedule otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Queued {
    /// Roll this digest out.
    Deploy {
        /// The image's digest.
        digest: String,
        /// The tag it was pushed or named with.
        tag: String,
        /// The side whose registry holds it.
        source_side: usize,
        /// Who asked (a push, or a command's caller).
        requested_by: String,
        /// Whether the same-digest and history checks are skipped (a command's `--force`).
        forced: bool,
        /// The sides to roll out, when not all.
        only: Option<Vec<usize>>,
        /// The event that asked (its redelivery starts nothing again).
        #[serde(default)]
        event: String,
    },
    /// Put the previous revisions back.
    Rollback {
        /// Who asked.
        requested_by: String,
    },
}

/// Where a target's queued request waits.
pub fn queue_key(target: &str) -> String {
    format!("deploy/{}/queued", crate::ids::key_segment(target))
}

impl Queued {
    /// Whether a person asked for it (the `rollback` and `deploy` commands, authenticated direct
    /// calls), rather than a registry's push message: a push never replaces a command waiting.
    pub fn from_command(&self) -> bool {
        match self {
            Queued::Rollback { .. } => true,
            Queued::Deploy { forced, .. } => *forced,
        }
    }
}
