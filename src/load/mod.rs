//! Load: YAML with line and column spans, the suite and config models, discovery, schemas.

pub mod auth;
pub mod config;
pub mod contract;
pub mod diag;
pub mod jsonpath;
pub mod matcher;
pub mod schema;
pub mod suite;
pub mod template_names;
pub mod yaml;
