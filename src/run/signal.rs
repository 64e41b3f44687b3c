//! Signals: the first SIGINT/SIGTERM cancels in-flight step requests and starts no new steps,
//! while teardown and cleanup run until a deadline; a second signal exits at once.

use std::time::Duration;

use crate::run::runner::Cancel;

/// Installs the handler on the current runtime. Returns immediately.
pub fn install(cancel: Cancel, deadline: Duration) {
    tokio::spawn(async move {
        // Registered once, before the first signal, so none is lost between the two waits.
        let Some(mut signals) = Signals::new() else { return };
        signals.recv().await;
        cancel.interrupt.cancel();
        cancel.stop_new.cancel();
        crate::errln!("interrupted: cancelling steps; teardown and cleanup get {}s (press Ctrl-C again to exit now)", deadline.as_secs());
        let abort = cancel.abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            abort.cancel();
        });
        signals.recv().await;
        crate::errln!("interrupted twice: exiting now; test users may be left (see `smokegate cleanup`)");
        std::process::exit(crate::exit::INTERRUPTED);
    });
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals { int: signal(SignalKind::interrupt()).ok()?, term: signal(SignalKind::terminate()).ok()? })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Option<Self> {
        Some(Signals)
    }

    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
