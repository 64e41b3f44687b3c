//! Deleting the user at the end and proving it gone (a refused login, or `auth.verify`).

use super::*;
use crate::load::config::Login;

impl Auth {
    /// Deletes the user (disposable mode) and proves it. `Ok(None)`: nothing to do (never
    /// created, or proven absent); `Ok(Some(email))`: deleted, and its login is now refused;
    /// `Err(reason)`: it may still exist, and stays in the journal.
    pub async fn cleanup(&self, cancel: &CancellationToken) -> Result<Option<String>, NotDeleted> {
        let (created, logged_in) = {
            let st = self.state();
            (st.created, st.logged_in)
        };
        let (Mode::Disposable { users, login }, Some(created)) = (&self.cfg.mode, created) else { return Ok(None) };
        let created = created == CreateState::Created;
        // The delete goes out with the user's own token: log in again first if it has expired.
        let mut waited = false;
        loop {
            match self.bearer(cancel).await {
                Ok(_) => break,
                Err(AuthError::Cancelled) => return Err(NotDeleted("interrupted before the user could be deleted".into())),
                Err(e) if !e.login_refused() => return Err(NotDeleted(format!("could not log in to delete it: {e}"))),
                Err(_) if created && logged_in => {
                    // It logged in before and is refused now: it is gone (a killed run deleted it
                    // before it could update the journal, or someone else did).
                    self.journal_remove();
                    return Ok(None);
                }
                Err(e) if created => {
                    return Err(NotDeleted(format!(
                        "it was created, but its login is refused ({e}), so it cannot be deleted with its own token"
                    )));
                }
                Err(_) => {
                    // Never seen created and its login is refused: proof of absence, once no
                    // unanswered create can still be completing upstream.
                    let unsettled = self.state().settle_by.filter(|at| *at > SystemTime::now());
                    match unsettled {
                        Some(at) if !waited => {
                            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                            self.ctx.out.sink.emit(Event::Info(format!(
                                "{}: its create timed out (here or at the gateway); waiting {:.1} s for it to settle before trusting a refused login",
                                self.identity.name,
                                wait.as_secs_f64()
                            )));
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => {}
                                _ = cancel.cancelled() => return Err(NotDeleted("interrupted while an unanswered create settled; it may exist".into())),
                            }
                            waited = true;
                        }
                        _ => {
                            self.journal_remove();
                            return Ok(None);
                        }
                    }
                }
            }
        }
        let mut last = String::new();
        for attempt in 1..=4u32 {
            match self.call(&users.cleanup, Phase::Cleanup, attempt, cancel).await {
                Ok(resp) => return self.verify_deleted(users, login, resp.status, cancel).await,
                Err(AuthError::Cancelled) => return Err(NotDeleted("interrupted before the user could be deleted".into())),
                Err(e @ AuthError::Step { class: FailureClass::ServerError | FailureClass::Connect | FailureClass::Timeout, .. }) => {
                    last = e.to_string();
                    if attempt < 4 {
                        let backoff = Duration::from_millis(200 * (1 << (attempt - 1)));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = cancel.cancelled() => return Err(NotDeleted(format!("interrupted while retrying: {last}"))),
                        }
                    }
                }
                Err(e) => return Err(NotDeleted(e.to_string())),
            }
        }
        Err(NotDeleted(format!("{last} (after 3 retries)")))
    }

    /// A delete's answer is not proof (a 404 from a wrong route looks like success): the user
    /// is gone when its login is refused with 401/403.
    pub(super) async fn verify_deleted(
        &self,
        users: &Users,
        login: &Login,
        status: u16,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, NotDeleted> {
        let routes = self.saved.file.clone().unwrap_or_else(|| "the built-in routes".to_owned());
        if let Some(verify) = &users.verify {
            // The configured proof: a step that passes only once the user is gone.
            return match self.call(verify, Phase::Verify, 1, cancel).await {
                Ok(_) => {
                    self.journal_remove();
                    Ok(Some(self.identity.name.clone()))
                }
                Err(AuthError::Cancelled) => {
                    Err(NotDeleted(format!("the delete answered {status}; interrupted before it could be verified")))
                }
                Err(e) => {
                    Err(NotDeleted(format!("the delete answered {status}, but `auth.verify` in {routes} does not show the user gone: {e}")))
                }
            };
        }
        match self.call(&login.step, Phase::Verify, 1, cancel).await {
            Err(e) if e.login_refused() => {
                self.journal_remove();
                Ok(Some(self.identity.name.clone()))
            }
            Ok(_) => Err(NotDeleted(format!(
                "the delete answered {status}, but the user can still log in: it was not deleted (check `auth.cleanup` in {routes})"
            ))),
            Err(AuthError::Cancelled) => Err(NotDeleted(format!("the delete answered {status}; interrupted before it could be verified"))),
            Err(e) => Err(NotDeleted(format!("the delete answered {status}, but whether the user is gone could not be verified: {e}"))),
        }
    }
}
