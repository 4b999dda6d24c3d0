//! Who is online: `GET /v1/presence`, and the `data` of the
//! `presence.joined` / `presence.left` events.

use serde::{Deserialize, Serialize};

/// A user online in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OnlineUser {
    /// The subscriber's `sub` claim.
    pub user: String,
    /// Open connections of this user, on every node.
    pub connections: u32,
}

/// `GET /v1/presence`: who is online in the tenant, on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Online {
    /// Users with at least one open connection, ordered by user.
    pub users: Vec<OnlineUser>,
    /// Open connections of the tenant in all.
    pub connections: u32,
    /// The `seq` of the tenant's last presence change (0: none yet): of
    /// the `presence.joined` / `presence.left` events, those with a greater
    /// `seq` happened after this list was read.
    pub seq: u64,
}

impl Online {
    /// Groups `(user)` per live connection into the answer.
    pub fn from_users<'a>(users: impl Iterator<Item = &'a str>, seq: u64) -> Online {
        let mut counts = std::collections::BTreeMap::<&str, u32>::new();
        let mut connections = 0u32;
        for user in users {
            *counts.entry(user).or_default() += 1;
            connections += 1;
        }
        Online {
            users: counts
                .into_iter()
                .map(|(user, connections)| OnlineUser {
                    user: user.to_owned(),
                    connections,
                })
                .collect(),
            connections,
            seq,
        }
    }

    /// Keeps only the users `keep` allows (the connection count follows).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.users.retain(|u| keep(&u.user));
        self.connections = self.users.iter().map(|u| u.connections).sum();
    }
}

/// The `data` of `presence.joined` and `presence.left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PresenceChange {
    /// The user: the subscriber token's `sub`.
    pub user: String,
    /// Orders the tenant's presence changes: of two events about one user,
    /// the one with the greater `seq` is the later change, whichever node
    /// saw it (events of different nodes may reach the log out of order).
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_counted_per_connection_and_filtered() {
        let mut online = Online::from_users(["b", "a", "b"].into_iter(), 7);
        assert_eq!(online.connections, 3);
        assert_eq!(online.users[0].user, "a");
        assert_eq!(online.users[1].connections, 2);
        online.retain(|user| user == "b");
        assert_eq!(
            (online.users.len(), online.connections, online.seq),
            (1, 2, 7)
        );
    }
}
