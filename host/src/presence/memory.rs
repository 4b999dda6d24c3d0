//! Presence in this process's memory: the embedded (single-node) mode.
//!
//! A `std::sync::Mutex` over a map per tenant: every operation is a few
//! map updates without I/O or `.await` while held. Bounded: a tenant's
//! map holds at most its tenant cap of live entries (expired ones are
//! purged on each registration), and empty tenants are dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Admission, CapPolicy, Caps, Entry, Online, PresenceError, PresenceStore};

struct Live {
    user: Box<str>,
    /// When it was registered (ordering for close-oldest).
    registered_ms: u64,
    expires_ms: u64,
}

#[derive(Default)]
pub struct MemoryPresence {
    /// tenant → connection id → entry.
    tenants: Mutex<HashMap<String, HashMap<String, Live>>>,
    /// Removed tenants → (when, remembered until). Expired ones are
    /// purged at each removal.
    removed: Mutex<HashMap<String, (u64, u64)>>,
}

impl MemoryPresence {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Live>>> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters (entries are independent): keep going.
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl PresenceStore for MemoryPresence {
    async fn register(
        &self,
        entry: &Entry<'_>,
        caps: Caps,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Admission, PresenceError> {
        let mut tenants = self.lock();
        let conns = tenants.entry(entry.tenant.to_owned()).or_default();
        conns.retain(|_, live| live.expires_ms > now_ms);
        let mut mine: Vec<(&String, u64)> = conns
            .iter()
            .filter(|(id, live)| &*live.user == entry.user && id.as_str() != entry.connection)
            .map(|(id, live)| (id, live.registered_ms))
            .collect();
        let mut replaced = Vec::new();
        if mine.len() >= caps.per_user as usize {
            if caps.policy == CapPolicy::RefuseNewest || caps.per_user == 0 {
                return Ok(Admission::UserFull { cap: caps.per_user });
            }
            mine.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            let excess = mine.len() + 1 - caps.per_user as usize;
            replaced = mine
                .iter()
                .take(excess)
                .map(|(id, _)| (*id).clone())
                .collect();
        }
        let others =
            conns.len() - replaced.len() - usize::from(conns.contains_key(entry.connection));
        if others >= caps.per_tenant as usize {
            return Ok(Admission::TenantFull {
                cap: caps.per_tenant,
            });
        }
        for id in &replaced {
            conns.remove(id);
        }
        conns.insert(
            entry.connection.to_owned(),
            Live {
                user: entry.user.into(),
                registered_ms: now_ms,
                expires_ms,
            },
        );
        Ok(Admission::Admitted { replaced })
    }

    async fn refresh(&self, entry: &Entry<'_>, expires_ms: u64) -> Result<bool, PresenceError> {
        let mut tenants = self.lock();
        let live = tenants
            .get_mut(entry.tenant)
            .and_then(|conns| conns.get_mut(entry.connection));
        match live {
            Some(live) => {
                live.expires_ms = live.expires_ms.max(expires_ms);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remove(&self, entry: &Entry<'_>) -> Result<(), PresenceError> {
        let mut tenants = self.lock();
        if let Some(conns) = tenants.get_mut(entry.tenant) {
            conns.remove(entry.connection);
            if conns.is_empty() {
                tenants.remove(entry.tenant);
            }
        }
        Ok(())
    }

    async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError> {
        let tenants = self.lock();
        let users = tenants
            .get(tenant)
            .into_iter()
            .flat_map(|conns| conns.values())
            .filter(|live| live.expires_ms > now_ms)
            .map(|live| &*live.user);
        Ok(Online::from_users(users))
    }

    async fn remove_tenant(
        &self,
        tenant: &str,
        now_ms: u64,
        remember_ms: u64,
    ) -> Result<(), PresenceError> {
        self.lock().remove(tenant);
        let mut removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        removed.retain(|_, (_, until)| *until > now_ms);
        removed.insert(
            tenant.to_owned(),
            (now_ms, now_ms.saturating_add(remember_ms)),
        );
        Ok(())
    }

    async fn tenant_removed(
        &self,
        tenant: &str,
        registered_ms: u64,
        now_ms: u64,
    ) -> Result<bool, PresenceError> {
        let removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        Ok(removed
            .get(tenant)
            .is_some_and(|&(at, until)| registered_ms <= at && now_ms < until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        super::super::conformance::run_all(&MemoryPresence::new(), "").await;
    }
}
