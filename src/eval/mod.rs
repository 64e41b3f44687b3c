//! Render and evaluate: templates, matchers, one step's verdict on one response.

pub mod matcher;
pub mod step;
pub mod template;
