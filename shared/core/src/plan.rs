//! Plans: what a function intends to do, each action with its reason.

use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::ports::Precondition;

/// Which configured service a compute operation acts on: a failover endpoint's or a scaling
/// service's. Written in plans and records as the endpoint's name or `scaling/<name>`, as
/// before it had a type, so records written earlier still read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComputeRef {
    /// The compute of the failover endpoint of this name.
    Endpoint(String),
    /// The compute of the scaling service of this name.
    Scaling(String),
}

impl std::fmt::Display for ComputeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeRef::Endpoint(name) => f.write_str(name),
            ComputeRef::Scaling(name) => write!(f, "scaling/{name}"),
        }
    }
}

impl ComputeRef {
    /// Reads the written form: `scaling/<name>`, or an endpoint's name.
    fn parse(text: &str) -> Self {
        match text.strip_prefix("scaling/") {
            Some(name) => ComputeRef::Scaling(name.to_owned()),
            None => ComputeRef::Endpoint(text.to_owned()),
        }
    }
}

impl Serialize for ComputeRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComputeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(ComputeRef::parse(&text))
    }
}

/// What a function will do about one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The function that made it.
    pub function: String,
    /// The signal's id (idempotency key).
    pub event_id: String,
    /// A conditional state write that must succeed before any action runs. Two invocations
    /// racing on the same change both plan it; only the one whose write lands acts.
    pub guard: Option<Guard>,
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Decisions that produced no action (suppressed, filtered), for the record.
    pub notes: Vec<String>,
}

impl Plan {
    /// An empty plan.
    pub fn new(function: &str, event_id: &str) -> Plan {
        Plan {
            function: function.into(),
            event_id: event_id.into(),
            guard: None,
            actions: vec![],
            notes: vec![],
        }
    }

    /// Human-readable listing, as `--dry-run` prints it.
    pub fn describe(&self) -> String {
        let mut out = format!("plan of {} for event {}\n", self.function, self.event_id);
        if let Some(g) = &self.guard {
            out.push_str(&format!("  guard: {} ({})\n", g.key, g.reason));
        }
        if self.actions.is_empty() {
            out.push_str("  no action\n");
        }
        for (i, a) in self.actions.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {} — {}\n",
                i + 1,
                a.op.describe(),
                a.reason
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}

/// A conditional write that claims a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// State key.
    pub key: String,
    /// What must hold for the write to land.
    pub expect: Precondition,
    /// The record written.
    pub value: serde_json::Value,
    /// Why.
    pub reason: String,
    /// How long the record is this invocation's: past it, another invocation may take over,
    /// and nothing fenced runs any more. `None`: the guard only decides who acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<u64>,
    /// Actions (by id) that run only while the guard record is still the one this invocation
    /// wrote and its lease runs; a state write to the guard's key among them is a
    /// compare-and-swap on that version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fences: Vec<String>,
}

impl Guard {
    /// A guard that only decides who acts: no lease, nothing fenced.
    pub fn claim(
        key: impl Into<String>,
        expect: Precondition,
        value: serde_json::Value,
        reason: impl Into<String>,
    ) -> Guard {
        Guard {
            key: key.into(),
            expect,
            value,
            reason: reason.into(),
            lease_secs: None,
            fences: vec![],
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique within the plan and stable across re-plans of the same event: the idempotency key
    /// of the action is `event id / action id`.
    pub id: String,
    /// Why the planner chose it.
    pub reason: String,
    /// Run only if this earlier action (by id) succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
    /// What to do.
    pub op: Operation,
}

/// The operations the executor knows how to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Send a message on a channel.
    Notify {
        /// Channel name.
        channel: String,
        /// The message.
        message: Message,
    },
    /// Set a service's desired (minimum) instance count.
    SetDesired {
        /// The configured service it belongs to.
        endpoint: ComputeRef,
        /// Service name.
        service: String,
        /// Instances.
        desired: u32,
    },
    /// Set a service's own maximum instance count (Cloud Run), where the platform has one.
    SetMax {
        /// The configured service it belongs to.
        endpoint: ComputeRef,
        /// Service name.
        service: String,
        /// Most instances.
        max: u32,
    },
    /// Wait until a service has `desired` ready instances, or fail after `timeout_secs`.
    WaitReady {
        /// The configured service it belongs to.
        endpoint: ComputeRef,
        /// Service name.
        service: String,
        /// Ready instances needed.
        desired: u32,
        /// Longest wait.
        timeout_secs: u64,
    },
    /// Point a DNS record at a target and wait until the provider has applied it.
    SwitchTraffic {
        /// Record name.
        record: String,
        /// New target.
        target: String,
    },
    /// Write a state record (unconditionally; used for counters and bookkeeping).
    PutState {
        /// Key.
        key: String,
        /// Value.
        value: serde_json::Value,
    },
}

impl Operation {
    /// One line.
    pub fn describe(&self) -> String {
        match self {
            Operation::Notify { channel, message } => {
                format!("notify `{channel}`: {}", message.title)
            }
            Operation::SetDesired {
                service, desired, ..
            } => format!("scale `{service}` to {desired}"),
            Operation::SetMax { service, max, .. } => {
                format!("set the maximum of `{service}` to {max}")
            }
            Operation::WaitReady {
                service, desired, ..
            } => format!("wait for {desired} ready instance(s) of `{service}`"),
            Operation::SwitchTraffic { record, target } => {
                format!("point `{record}` at `{target}`")
            }
            Operation::PutState { key, .. } => format!("record state `{key}`"),
        }
    }
}

#[cfg(test)]
mod compute_ref_tests {
    use super::ComputeRef;

    #[test]
    fn a_compute_ref_is_written_as_before_it_had_a_type() {
        let scaling = ComputeRef::Scaling("backend".into());
        let endpoint = ComputeRef::Endpoint("AWS Fargate".into());
        assert_eq!(
            serde_json::to_string(&scaling).unwrap_or_default(),
            "\"scaling/backend\""
        );
        assert_eq!(
            serde_json::to_string(&endpoint).unwrap_or_default(),
            "\"AWS Fargate\""
        );
        for r in [scaling, endpoint] {
            let text = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(serde_json::from_str::<ComputeRef>(&text).ok(), Some(r));
        }
    }
}
