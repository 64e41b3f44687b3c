//! Signals: the first SIGINT/SIGTERM cancels in-flight step requests and starts no new steps,
//! while teardown and cleanup run until a deadline; a second signal exits at once.

use std::time::Duration;

use crate::runner::Cancel;

/// Installs the handler on the current runtime. Returns immediately.
pub fn install(cancel: Cancel, deadline: Duration) {
    tokio::spawn(async move {
        if !wait_signal().await {
            return;
        }
        cancel.interrupt.cancel();
        cancel.stop_new.cancel();
        eprintln!("interrupted: cancelling steps; teardown and cleanup get {}s (press Ctrl-C again to exit now)", deadline.as_secs());
        let abort = cancel.abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            abort.cancel();
        });
        if wait_signal().await {
            eprintln!("interrupted twice: exiting now; test users may be left (see `smokegate cleanup`)");
            std::process::exit(crate::exit::INTERRUPTED);
        }
    });
}

#[cfg(unix)]
async fn wait_signal() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return false;
    };
    tokio::select! {
        _ = int.recv() => true,
        _ = term.recv() => true,
    }
}

#[cfg(not(unix))]
async fn wait_signal() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}
