//! TicketFlower's workflow semantics, free of I/O.
//!
//! This crate owns what a workflow *means*: the definition document and its
//! validator ([`definition`], [`validate`]), the three embedded languages
//! ([`schema`] for JSON Schema 2020-12, [`transform`] for RFC 9535 JSONPath
//! transforms, [`condition`] for MongoDB query documents), and the engine rules
//! ([`engine`]) as pure functions from a state and an event to a [`engine::Decision`].
//! The storage layer persists decisions; web handlers and workers call
//! [`engine::decide`]. Nothing here touches a clock, a database or the network:
//! time is a parameter.

pub mod condition;
pub mod definition;
pub mod diagram;
pub mod document;
pub mod engine;
pub mod path;
pub mod problem;
pub mod sample;
pub mod schema;
pub mod simulate;
pub mod transform;
pub mod validate;

#[cfg(test)]
mod guide_tests;

pub use definition::Definition;
pub use problem::{Problem, Severity};
