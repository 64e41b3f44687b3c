//! Signals, nextest's way: they become cancellation and events, never a print or an exit here.
//! The first SIGINT/SIGTERM cancels in-flight reads and starts no new steps, while writes in
//! flight, teardown and cleanup run until a deadline; the deadline or a second signal aborts
//! them too. The run then ends on its own, its reports are written, and `main` exits 130.

use std::time::Duration;

use crate::report::event::{Event, EventSink};
use crate::run::ctx::Cancel;

/// Installs the handler on the current runtime. Returns immediately.
pub fn install(cancel: Cancel, deadline: Duration, sink: EventSink) {
    tokio::spawn(async move {
        // Registered once, before the first signal, so none is lost between the two waits.
        let Some(mut signals) = Signals::new() else { return };
        signals.recv().await;
        cancel.interrupt.cancel();
        cancel.stop_new.cancel();
        sink.emit(Event::Interrupted { deadline });
        let (abort, deadline_sink) = (cancel.abort.clone(), sink.clone());
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            if !abort.is_cancelled() {
                deadline_sink.emit(Event::Aborted { second_signal: false });
                abort.cancel();
            }
        });
        signals.recv().await;
        if !cancel.abort.is_cancelled() {
            sink.emit(Event::Aborted { second_signal: true });
            cancel.abort.cancel();
        }
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
