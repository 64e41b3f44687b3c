//! Deleting the user at the end and proving it gone (a refused login, or `auth.verify`).

use super::*;

/// What the user's login says before its deletion.
enum Login {
    /// It logs in: its token deletes it, and a refused login afterwards proves it gone.
    LogsIn,
    /// It cannot (a create stopped half-way, or the login is broken): the admin deletes it.
    Refused,
    /// The refusal settles it: gone, never created, or not deletable this way.
    Finished(Result<Option<String>, NotDeleted>),
}

impl Auth {
    /// Deletes the user (disposable mode) and proves it, then ends the admin's session
    /// (`admin.logout`). `Ok(None)`: nothing to do (never created, or proven absent);
    /// `Ok(Some(email))`: deleted, and proven gone; `Err(reason)`: it may still exist, and stays
    /// in the journal.
    pub async fn cleanup(&self, cancel: &CancellationToken) -> Result<Option<String>, NotDeleted> {
        let deleted = self.delete_user(cancel).await;
        self.admin_logout(cancel).await;
        deleted
    }

    async fn delete_user(&self, cancel: &CancellationToken) -> Result<Option<String>, NotDeleted> {
        let (created, logged_in) = {
            let st = self.state();
            (st.created, st.logged_in)
        };
        let (Mode::Disposable { users, login }, Some(created)) = (&self.cfg.mode, created) else { return Ok(None) };
        let created = created == CreateState::Created;
        // Cleanup steps that need no user token (the admin deletes) can delete a user that
        // cannot log in: one whose create stopped half-way (never confirmed, no password).
        let by_admin = !users.cleanup.iter().any(|s| s.auth == Some(AuthMode::User));
        // The user's login first: for its token, and as proof of what exists.
        let logs_in = match self.log_in_to_delete(users, created, logged_in, by_admin, cancel).await {
            Login::LogsIn => true,
            Login::Refused => false,
            Login::Finished(done) => return done,
        };
        // A run stopped between its login and `after_login` left without what the cleanup
        // steps read (the user's id): learn it now.
        if logs_in && self.after_login_missing() {
            match self.after_login(Phase::Cleanup, cancel).await {
                Err(AuthError::Cancelled) => return Err(NotDeleted("interrupted before the user could be deleted".into())),
                Err(e) => return Err(NotDeleted(format!("`auth.after_login` failed, so its captures are missing: {e}"))),
                Ok(()) => {}
            }
        }
        let mut status = 0;
        for step in &users.cleanup {
            status = self.cleanup_step(step, cancel).await?;
        }
        // A user that logged in before can be proven gone by its login: only one that never
        // could is taken as deleted on the admin's word.
        if !logs_in && !logged_in && users.verify.is_empty() {
            // No login to prove it with: the admin's delete, answered as expected, is the proof.
            self.ctx.out.sink.emit(Event::Info(format!(
                "{}: deleted by the admin ({status}); it never logged in, so a refused login cannot prove it gone (`auth.verify` can)",
                self.identity.name
            )));
            self.journal_remove();
            return Ok(Some(self.identity.name.clone()));
        }
        self.verify_deleted(users, login, status, cancel).await
    }

    /// Logs the user in to delete it, or learns from the refusal what there is to do: it logs
    /// in; it cannot, but the admin can delete it; or the refusal already settles it (gone,
    /// absent, or not deletable with what the config allows).
    async fn log_in_to_delete(&self, users: &Users, created: bool, logged_in: bool, by_admin: bool, cancel: &CancellationToken) -> Login {
        // With `verify` steps, a refused login proves nothing (Cognito refuses a throttled login
        // with a 400 too): the steps say whether the user is gone.
        let refused = async || {
            if users.verify.is_empty() {
                return None;
            }
            Some(match self.proven_gone(users, cancel).await {
                Ok(()) => {
                    self.journal_remove();
                    Login::Finished(Ok(None))
                }
                Err(_) if by_admin => Login::Refused,
                Err(e) => Login::Finished(Err(NotDeleted(format!("its login is refused, and `auth.verify` does not show it gone: {e}")))),
            })
        };
        let mut waited = false;
        loop {
            match self.cleanup_token(cancel).await {
                Ok(_) => return Login::LogsIn,
                Err(AuthError::Cancelled) => {
                    return Login::Finished(Err(NotDeleted("interrupted before the user could be deleted".into())));
                }
                Err(e) if !e.login_refused() => {
                    if by_admin {
                        // Whether it exists is unknown: the admin deletes it with what is known.
                        return Login::Refused;
                    }
                    return Login::Finished(Err(NotDeleted(format!("could not log in to delete it: {e}"))));
                }
                Err(_) if created && logged_in => {
                    if let Some(verdict) = refused().await {
                        return verdict;
                    }
                    // It logged in before and is refused now: it is gone (a killed run deleted it
                    // before it could update the journal, or someone else did).
                    self.journal_remove();
                    return Login::Finished(Ok(None));
                }
                Err(_) if created && by_admin => return Login::Refused,
                Err(e) if created => {
                    return Login::Finished(Err(NotDeleted(format!(
                        "it was created, but its login is refused ({e}), so it cannot be deleted with its own token (an `auth.admin` cleanup can delete it)"
                    ))));
                }
                Err(_) => {
                    if let Some(verdict) = refused().await {
                        return verdict;
                    }
                    // A create of several steps whose first went unanswered may have made a user
                    // its later steps never enabled: a refused login cannot say it is absent.
                    if users.create.len() > 1 && by_admin {
                        return Login::Refused;
                    }
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
                                _ = cancel.cancelled() => return Login::Finished(Err(NotDeleted("interrupted while an unanswered create settled; it may exist".into()))),
                            }
                            waited = true;
                        }
                        _ => {
                            self.journal_remove();
                            return Login::Finished(Ok(None));
                        }
                    }
                }
            }
        }
    }

    /// Every `auth.verify` step passes: the user is gone.
    async fn proven_gone(&self, users: &Users, cancel: &CancellationToken) -> Result<(), AuthError> {
        for verify in &users.verify {
            self.call(verify, Phase::Verify, 1, cancel).await?;
        }
        Ok(())
    }

    /// The user's token for its deletion: its current one (renewed when due), or, for an
    /// identity that holds none (`cleanup` of a journaled one), a login labelled `cleanup`.
    async fn cleanup_token(&self, cancel: &CancellationToken) -> Result<Secret, AuthError> {
        {
            let mut guard = self.token.lock().await;
            if guard.is_none() {
                let t = self.login(Phase::Cleanup, cancel).await?;
                self.note_token(&t);
                return Ok(self.hold(&mut guard, t, "login's"));
            }
        }
        self.bearer(cancel).await
    }

    /// One cleanup step, sent again (up to 3 times, backing off) after a 5xx, a broken
    /// connection or a timeout. Its status when it passes.
    async fn cleanup_step(&self, step: &Step, cancel: &CancellationToken) -> Result<u16, NotDeleted> {
        let mut last = String::new();
        for attempt in 1..=4u32 {
            match self.call(step, Phase::Cleanup, attempt, cancel).await {
                Ok(resp) => return Ok(resp.status),
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
    /// is gone when its login is refused with 400/401/403, or when every `auth.verify` step
    /// passes.
    pub(super) async fn verify_deleted(
        &self,
        users: &Users,
        login: &crate::load::config::Login,
        status: u16,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, NotDeleted> {
        let routes = self.saved.file.clone().unwrap_or_else(|| "the built-in routes".to_owned());
        if !users.verify.is_empty() {
            // The configured proof: steps that pass only once the user is gone.
            return match self.proven_gone(users, cancel).await {
                Ok(()) => {
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
