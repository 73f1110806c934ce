//! The pure core of twincloud: the normalized event model ([`Signal`]), decoders for every
//! supported cloud event shape, configuration, planners, plans, messages and the port traits
//! that adapters implement. Nothing in this crate performs I/O.

pub mod config;
pub mod decode;
pub mod digest;
pub mod ids;
pub mod location;
pub mod message;
pub mod plan;
pub mod planner;
pub mod ports;
pub mod records;
pub mod secret;
pub mod signal;
pub mod text;

pub use config::{Channel, ChannelTarget, Config, ConfigError};
pub use decode::{DecodeError, Decoded, HttpRequest, Shape, decode_http, decode_json};
pub use location::Location;
pub use message::Message;
pub use plan::{Action, Guard, Operation, Plan};
pub use ports::{Precondition, Retry, StateError, StateStore, Version, Versioned};
pub use secret::{Secret, SecretRef};
pub use signal::{Cloud, Severity, Signal, SignalKind};
