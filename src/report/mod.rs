//! Reporters: they consume run events and render them — the console, the JSON report, JUnit,
//! GitHub Actions annotations and summary, and the JSON-lines log. None of them reaches back
//! into the runner.

pub mod console;
pub mod crumb;
pub mod event;
pub mod files;
pub mod github;
pub mod html;
pub mod junit;
pub mod live;
pub mod model;
pub mod results;
