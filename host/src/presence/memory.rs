//! Presence in this process's memory: the embedded (single-node) mode.
//!
//! A `std::sync::Mutex` over a map per tenant: every operation is a few
//! map updates without I/O or `.await` while held. Bounded: a tenant's
//! map holds at most its tenant cap of live entries (expired ones are
//! purged on each registration and refresh); what stays of a tenant
//! without connections is its last `seq`, until the tenant is deleted.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Admission, CapPolicy, Caps, Change, Conn, Entry, Online, PresenceError, PresenceStore,
    Refreshed, Registered, next_seq,
};

struct Live {
    user: Box<str>,
    /// When it was registered (ordering for close-oldest).
    registered_ms: u64,
    expires_ms: u64,
}

/// One tenant's entries.
#[derive(Default)]
struct Conns {
    /// Connection id → entry.
    live: HashMap<String, Live>,
    /// User → how many entries they have (no zeros).
    users: HashMap<Box<str>, usize>,
    /// The last change's `seq`.
    seq: u64,
}

impl Conns {
    fn change(&mut self, user: &str, joined: bool, now_ms: u64) -> Change {
        self.seq = next_seq(self.seq, now_ms);
        Change {
            user: user.to_owned(),
            joined,
            seq: self.seq,
        }
    }

    fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    fn insert(&mut self, connection: &str, live: Live) {
        *self.users.entry(live.user.clone()).or_default() += 1;
        if let Some(old) = self.live.insert(connection.to_owned(), live) {
            self.forget(&old.user);
        }
    }

    fn forget(&mut self, user: &str) {
        if let Some(n) = self.users.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                self.users.remove(user);
            }
        }
    }

    /// Removes one connection; its user's leaving if it was their last.
    fn remove(&mut self, connection: &str, now_ms: u64) -> Option<Change> {
        let gone = self.live.remove(connection)?;
        self.forget(&gone.user);
        (!self.has_user(&gone.user)).then(|| self.change(&gone.user, false, now_ms))
    }

    /// Removes the entries expired at `now_ms`; the users who left.
    fn purge(&mut self, now_ms: u64) -> Vec<Change> {
        let mut expired: Vec<(String, u64)> = self
            .live
            .iter()
            .filter(|(_, live)| live.expires_ms <= now_ms)
            .map(|(id, live)| (id.clone(), live.expires_ms))
            .collect();
        expired.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        expired
            .into_iter()
            .filter_map(|(id, _)| self.remove(&id, now_ms))
            .collect()
    }
}

#[derive(Default)]
pub struct MemoryPresence {
    /// tenant → its entries. A tenant stays while it has entries or
    /// changes (its `seq` must keep growing); a deleted one goes.
    tenants: Mutex<HashMap<String, Conns>>,
    /// Removed tenants → (when, remembered until). Expired ones are
    /// purged at each removal.
    removed: Mutex<HashMap<String, (u64, u64)>>,
}

impl MemoryPresence {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Conns>> {
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
    ) -> Result<Registered, PresenceError> {
        let mut tenants = self.lock();
        let conns = tenants.entry(entry.tenant.to_owned()).or_default();
        let mut changes = conns.purge(now_ms);
        let mut mine: Vec<(&String, u64)> = conns
            .live
            .iter()
            .filter(|(id, live)| &*live.user == entry.user && id.as_str() != entry.connection)
            .map(|(id, live)| (id, live.registered_ms))
            .collect();
        let mut replaced = Vec::new();
        if mine.len() >= caps.per_user as usize {
            if caps.policy == CapPolicy::RefuseNewest || caps.per_user == 0 {
                let admission = Admission::UserFull { cap: caps.per_user };
                return Ok(Registered { admission, changes });
            }
            mine.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            let excess = mine.len() + 1 - caps.per_user as usize;
            replaced = mine
                .iter()
                .take(excess)
                .map(|(id, _)| (*id).clone())
                .collect();
        }
        let present = conns.live.contains_key(entry.connection);
        let others = conns.live.len() - replaced.len() - usize::from(present);
        if others >= caps.per_tenant as usize {
            let admission = Admission::TenantFull {
                cap: caps.per_tenant,
            };
            return Ok(Registered { admission, changes });
        }
        for id in &replaced {
            // The user keeps this new connection: no change.
            if let Some(gone) = conns.live.remove(id) {
                conns.forget(&gone.user);
            }
        }
        let first = !conns.has_user(entry.user);
        conns.insert(
            entry.connection,
            Live {
                user: entry.user.into(),
                registered_ms: now_ms,
                expires_ms,
            },
        );
        if first {
            changes.push(conns.change(entry.user, true, now_ms));
        }
        Ok(Registered {
            admission: Admission::Admitted { replaced },
            changes,
        })
    }

    async fn refresh(
        &self,
        tenant: &str,
        batch: &[Conn<'_>],
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Refreshed, PresenceError> {
        let mut tenants = self.lock();
        let Some(conns) = tenants.get_mut(tenant) else {
            return Ok(Refreshed {
                gone: batch.iter().map(|c| c.connection.to_owned()).collect(),
                changes: Vec::new(),
            });
        };
        let mut gone = Vec::new();
        for conn in batch {
            match conns.live.get_mut(conn.connection) {
                Some(live) => live.expires_ms = live.expires_ms.max(expires_ms),
                None => gone.push(conn.connection.to_owned()),
            }
        }
        let changes = conns.purge(now_ms);
        Ok(Refreshed { gone, changes })
    }

    async fn remove(
        &self,
        entry: &Entry<'_>,
        now_ms: u64,
    ) -> Result<Option<Change>, PresenceError> {
        let mut tenants = self.lock();
        Ok(tenants
            .get_mut(entry.tenant)
            .and_then(|conns| conns.remove(entry.connection, now_ms)))
    }

    async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError> {
        let tenants = self.lock();
        let conns = tenants.get(tenant);
        let users = conns
            .into_iter()
            .flat_map(|conns| conns.live.values())
            .filter(|live| live.expires_ms > now_ms)
            .map(|live| &*live.user);
        Ok(Online::from_users(users, conns.map_or(0, |c| c.seq)))
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
        now_ms: u64,
    ) -> Result<Option<u64>, PresenceError> {
        let removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        Ok(removed
            .get(tenant)
            .filter(|&&(_, until)| now_ms < until)
            .map(|&(at, _)| at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::presence::conformance::presence_conformance!(((), MemoryPresence::new()));
}
