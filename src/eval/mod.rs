//! Render and evaluate: templates, matchers, one step's verdict on one response.

pub mod json;
pub mod matcher;
pub mod node;
pub mod step;
mod stub;
pub mod template;
