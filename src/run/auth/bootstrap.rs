//! Bringing an identity up: the create steps (journaled ahead), the login, `after_login`.

use super::*;

impl Auth {
    /// Create (disposable mode), login, then `after_login`. The identity is journaled before
    /// its first create step is sent (no journal, no create); afterwards only a definitive
    /// refusal of that first step removes it. Once the first step is answered the user exists:
    /// a later step that fails (a confirmation, a password) leaves it to be deleted like any
    /// other. On failure the caller still runs `cleanup`, which deletes and proves the deletion.
    pub async fn bootstrap(&self, cancel: &CancellationToken) -> Result<(), AuthError> {
        if let Mode::ApiKey(_) = self.cfg.mode {
            // A static key: nothing to fetch; it is masked like a token (`Auth::new`).
            return Ok(());
        }
        if let Mode::Disposable { users, .. } = &self.cfg.mode {
            self.create(users, cancel).await?;
        }
        {
            let mut guard = self.token.lock().await;
            let t = self.login(Phase::BootstrapLogin, cancel).await?;
            self.note_token(&t);
            self.hold(&mut guard, t, "login's");
        }
        if self.is_disposable() {
            self.state().logged_in = true;
            self.journal_write_or_warn().await;
        }
        self.after_login(Phase::AfterLogin, cancel).await
    }

    /// `auth.create`, step by step (see [`Auth::bootstrap`]).
    pub(super) async fn create(&self, users: &Users, cancel: &CancellationToken) -> Result<(), AuthError> {
        let first = &users.create[0];
        let timeout = first.request.timeout.unwrap_or(self.ctx.net.http.settings.timeout);
        // Until the gateway answers, assume the user may exist: a timeout can hide a create.
        {
            let mut st = self.state();
            st.settle_by = Some(SystemTime::now() + timeout);
            st.created = Some(CreateState::Pending);
        }
        if let Err(e) = self.journal_write().await {
            // Nothing is sent without its journal entry: nothing may exist.
            let mut st = self.state();
            (st.created, st.settle_by) = (None, None);
            return Err(AuthError::Journal(e.to_string()));
        }
        match self.call(first, Phase::BootstrapCreate, 1, cancel).await {
            Ok(_) => self.mark_created().await,
            Err(e) => {
                if e.definitive_refusal() {
                    self.state().created = None;
                    self.journal_remove();
                } else if matches!(e.status(), Some(200..=299)) {
                    // Created, though its answer failed a check (a capture, a stub phrase).
                    self.mark_created().await;
                } else {
                    {
                        let mut st = self.state();
                        if e.upstream_finished() {
                            st.settle_by = None;
                        }
                        st.created = Some(CreateState::Unknown);
                    }
                    self.journal_write_or_warn().await;
                }
                return Err(e);
            }
        }
        for step in &users.create[1..] {
            let answered = self.call(step, Phase::BootstrapCreate, 1, cancel).await;
            // Captures are journaled as they come: a later step (or `cleanup`) may need them.
            self.journal_write_or_warn().await;
            answered?;
        }
        self.ctx.out.sink.emit(Event::Info(format!("created test user {}", self.identity.name)));
        Ok(())
    }

    /// `auth.after_login`: run once, after the first login that succeeds, with the user's token.
    /// Their captures are the user's, journaled at once (a `cleanup` elsewhere reads them).
    /// `phase`: `bootstrap.after_login` in a run, `cleanup` when `cleanup` learns what a killed
    /// run never did.
    pub(super) async fn after_login(&self, phase: Phase, cancel: &CancellationToken) -> Result<(), AuthError> {
        let Some(login) = self.cfg.login() else { return Ok(()) };
        for step in &login.after_login {
            let answered = self.call(step, phase, 1, cancel).await;
            if self.is_disposable() {
                self.journal_write_or_warn().await;
            }
            answered?;
        }
        Ok(())
    }

    /// Whether an `after_login` capture is missing: a run killed between its login and its
    /// `after_login` left the user without what `cleanup` reads.
    pub(super) fn after_login_missing(&self) -> bool {
        let Some(login) = self.cfg.login() else { return false };
        let st = self.state();
        login.after_login.iter().flat_map(|s| &s.capture).any(|c| !st.captures.contains_key(&c.name))
    }

    pub(super) async fn mark_created(&self) {
        {
            let mut st = self.state();
            st.created = Some(CreateState::Created);
            st.settle_by = None;
        }
        self.journal_write_or_warn().await;
    }
}
