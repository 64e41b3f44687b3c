//! Load: YAML with line and column spans, the suite and config models, discovery, schemas.

pub mod config;
pub mod diag;
pub mod schema;
pub mod suite;
pub mod yaml;
