//! Reporters: they consume run events and render them (console now; JSON, JUnit and GitHub
//! annotations alongside). None of them reaches back into the runner.

pub mod console;
