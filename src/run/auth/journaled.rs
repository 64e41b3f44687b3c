//! The identity's journal entry and session cache: written ahead of its create, kept while it
//! may exist, adopted by `cleanup` and restored by the local helpers.

use super::*;

impl Auth {
    /// Leaves the user in the journal, as it is, for `smokegate cleanup`.
    pub async fn keep_for_cleanup(&self) {
        {
            let mut st = self.state();
            if st.created != Some(CreateState::Created) {
                st.created = Some(CreateState::Unknown);
            }
        }
        self.journal_write_or_warn().await;
    }

    /// Marks the journal entry as kept (`--keep-user`).
    pub async fn keep(&self) {
        let entry = {
            let mut st = self.state();
            let Some(entry) = st.entry.as_mut() else { return };
            entry.kept = true;
            entry.clone()
        };
        let _ = self.ctx.journal.put(&entry).await;
    }

    /// Writes the identity's journal entry with what is known of it now.
    pub(super) async fn journal_write(&self) -> Result<(), JournalError> {
        let j = &self.ctx.journal;
        let entry = {
            let mut st = self.state();
            let (state, captures, logged_in) = (st.created.unwrap_or_default(), st.captures.clone(), st.logged_in);
            let settle_by = st.settle_by.map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
            let entry = st.entry.get_or_insert_with(|| Entry {
                version: 1,
                run_id: self.ctx.run_id.clone(),
                gateway: self.ctx.net.http.gateway.origin(),
                email: self.identity.name.clone(),
                password: self.identity.password.expose().to_owned(),
                captures: Default::default(),
                created_at: chrono::Utc::now().to_rfc3339(),
                kept: false,
                state,
                settle_by: None,
                logged_in: false,
                config: Some(self.saved.clone()),
                env: self.journaled_env(),
            });
            // What the lifecycle captured, but its secrets (a refresh token lives for weeks):
            // `cleanup` logs in with the password, and needs only what names the user.
            entry.captures =
                captures.into_iter().filter(|(k, _)| !crate::secret::is_secret_name(k) && !self.ctx.config.secrets.contains(k)).collect();
            entry.state = state;
            entry.settle_by = settle_by;
            entry.logged_in = logged_in;
            entry.clone()
        };
        j.put(&entry).await.map(|_| ()).map_err(|e| JournalError { dir: j.dir.clone(), source: e })
    }

    /// The environment variables the lifecycle reads that are not secrets: not secret-named, not
    /// in `secrets:`, and not a value the sanitizer masks.
    fn journaled_env(&self) -> std::collections::BTreeMap<String, String> {
        let t = &self.ctx.vars.templates;
        let names: std::collections::BTreeSet<String> = self
            .cfg
            .template_texts()
            .iter()
            .flat_map(|text| t.variables(text).unwrap_or_default())
            .filter_map(|v| v.strip_prefix("env.").map(|n| n.split('.').next().unwrap_or(n).to_owned()))
            .collect();
        names
            .into_iter()
            .filter(|n| !crate::secret::is_secret_name(n) && !crate::secret::is_secret_env_name(n) && !self.ctx.config.secrets.contains(n))
            .filter_map(|n| std::env::var(&n).ok().filter(|v| !v.is_empty() && self.ctx.out.redactor.redact(v) == *v).map(|v| (n, v)))
            .collect()
    }

    /// After the create was sent the entry exists already; a failed update keeps the older one.
    pub(super) async fn journal_write_or_warn(&self) {
        if let Err(e) = self.journal_write().await {
            self.ctx.out.sink.emit(Event::Warning(format!("cannot update the cleanup journal: {e}")));
        }
    }

    pub(super) fn journal_remove(&self) {
        if let Some(entry) = self.state().entry.clone() {
            let _ = self.ctx.journal.remove(&entry);
        }
    }

    /// What a cached session (`smokegate token`) keeps: the captures and the current token.
    pub async fn session_parts(&self) -> (serde_json::Map<String, J>, Option<Secret>) {
        (self.captures(), self.current_token().await)
    }

    /// Restores a cached session: the user exists, and its token is reused if it still parses
    /// (`bearer` then decides whether it is fresh enough).
    pub async fn restore(&self, captures: serde_json::Map<String, J>, token: Option<Secret>) {
        {
            // A cached session logged in before: if the gateway refuses this login, it is gone.
            let mut st = self.state();
            st.captures = captures;
            st.created = self.is_disposable().then_some(CreateState::Unknown);
            st.logged_in = true;
        }
        if let Some(secret) = token {
            self.ctx.out.redactor.add(&secret);
            if let Ok(info) = jwt::decode(secret.expose()) {
                let t = Token::new(secret, info);
                self.note_token(&t);
                *self.token.lock().await = Some(t);
            }
        }
    }

    /// Hands the identity over from the journal to a session cache that now records it.
    pub fn release_from_journal(&self) {
        self.journal_remove();
    }

    /// Restores a journalled identity (for `smokegate cleanup`): captures and "maybe created".
    pub fn adopt(&self, entry: Entry) {
        // A killed run's create may be in flight until its request deadline.
        let settle_by = match entry.state {
            CreateState::Created => None,
            _ => {
                entry.settle_by.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(SystemTime::from).or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(&entry.created_at)
                        .ok()
                        .map(|t| SystemTime::from(t) + self.ctx.net.http.settings.timeout)
                })
            }
        };
        let mut st = self.state();
        st.captures = entry.captures.clone();
        st.created = Some(if entry.state == CreateState::Created { CreateState::Created } else { CreateState::Unknown });
        st.logged_in = entry.logged_in;
        st.settle_by = settle_by;
        st.env = entry.env.clone();
        st.entry = Some(entry);
    }
}
