//! What the store remembers of its own writes, so that an arrival's token
//! check and a group commit's webhook setting cost no database round trip.
//!
//! Only on SQLite: a server holds `circlekeeper.server.lock` alone (`lock`),
//! so this process is the file's only server, and the one other writer, the `invite` command, only adds
//! invitations, which a miss reads. On Postgres other nodes revoke, so
//! every read goes to the database.
//!
//! A revocation or a deleted room makes the store forget, after its commit.
//! A read that began before that commit could bring back what it read, so
//! every forgetting moves a generation on, and a read is remembered only if
//! the generation did not move while it ran.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::rooms::InvitationRow;

/// Past this many invitations the memo starts again empty: a bound, not a
/// cache policy. An entry costs about 0.9 KiB of RSS (3 030 invitations in
/// rooms of 100: 2.7–2.9 MiB more), so at most about 18 MiB.
const MAX_INVITATIONS: usize = 20_000;

#[derive(Clone, Debug, Default)]
pub(super) struct Memo {
    /// `None` where other processes write the store (Postgres).
    inner: Option<Arc<Mutex<Inner>>>,
}

#[derive(Debug, Default)]
struct Inner {
    invitations: HashMap<String, InvitationRow>,
    generation: u64,
    webhooks: Option<bool>,
}

/// Taken before a read; hands the rows read to [`Memo::remember`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Generation(u64);

impl Memo {
    /// A memo that remembers (`true`) or one that never does.
    pub(super) fn new(enabled: bool) -> Memo {
        Memo {
            inner: enabled.then(Arc::default),
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        // Nothing in `Inner` is left half-changed by a panic, so a poisoned
        // lock still holds a consistent memo.
        let inner = self.inner.as_ref()?;
        Some(inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn invitation(&self, id: &str) -> Option<InvitationRow> {
        self.lock()?.invitations.get(id).cloned()
    }

    pub(super) fn generation(&self) -> Generation {
        Generation(self.lock().map_or(0, |inner| inner.generation))
    }

    /// Keeps `rows`, read since `read_at`, unless something was forgotten meanwhile.
    pub(super) fn remember<'a>(
        &self,
        read_at: Generation,
        rows: impl IntoIterator<Item = &'a InvitationRow>,
    ) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        if inner.generation != read_at.0 {
            return;
        }
        for row in rows {
            if inner.invitations.len() >= MAX_INVITATIONS {
                inner.invitations.clear();
            }
            inner
                .invitations
                .insert(row.invitation.id.clone(), row.clone());
        }
    }

    /// After a revocation of `id` is committed.
    pub(super) fn forget_invitation(&self, id: &str) {
        if let Some(mut inner) = self.lock() {
            inner.generation += 1;
            inner.invitations.remove(id);
        }
    }

    /// After rooms were deleted.
    pub(super) fn forget_invitations(&self) {
        if let Some(mut inner) = self.lock() {
            inner.generation += 1;
            inner.invitations.clear();
        }
    }

    pub(super) fn webhooks(&self) -> Option<bool> {
        self.lock()?.webhooks
    }

    /// After the setting is committed.
    pub(super) fn set_webhooks(&self, enabled: bool) {
        if let Some(mut inner) = self.lock() {
            inner.webhooks = Some(enabled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circle::{Invitation, Role, Timestamp};

    fn row(id: &str) -> InvitationRow {
        InvitationRow {
            room_id: "r".into(),
            invitation: Invitation {
                id: id.into(),
                seat: 1,
                role: Role::Participant,
                party: None,
                name: "Ana".into(),
                interprets_for: Vec::new(),
                guardian: None,
                supports: None,
            },
            issued_at: Timestamp(0),
            expires_at: Timestamp(1),
            revoked_at: None,
        }
    }

    #[test]
    fn a_read_that_overlapped_a_revocation_is_not_remembered() {
        let memo = Memo::new(true);
        let before = memo.generation();
        memo.forget_invitation("a");
        memo.remember(before, [&row("a")]);
        assert_eq!(memo.invitation("a"), None);
        memo.remember(memo.generation(), [&row("a")]);
        assert_eq!(memo.invitation("a"), Some(row("a")));
        memo.forget_invitation("a");
        assert_eq!(memo.invitation("a"), None);
    }

    #[test]
    fn deleted_rooms_take_every_invitation_with_them() {
        let memo = Memo::new(true);
        memo.remember(memo.generation(), [&row("a"), &row("b")]);
        let before = memo.generation();
        memo.forget_invitations();
        memo.remember(before, [&row("c")]);
        assert_eq!(
            (
                memo.invitation("a"),
                memo.invitation("b"),
                memo.invitation("c")
            ),
            (None, None, None)
        );
    }

    #[test]
    fn a_disabled_memo_remembers_nothing() {
        let memo = Memo::new(false);
        memo.remember(memo.generation(), [&row("a")]);
        memo.set_webhooks(true);
        assert_eq!((memo.invitation("a"), memo.webhooks()), (None, None));
    }

    #[test]
    fn the_bound_starts_the_memo_again() {
        let memo = Memo::new(true);
        let rows: Vec<_> = (0..=MAX_INVITATIONS).map(|n| row(&n.to_string())).collect();
        memo.remember(memo.generation(), &rows);
        assert_eq!(memo.invitation("0"), None);
        assert_eq!(
            memo.invitation(&MAX_INVITATIONS.to_string()),
            Some(rows[MAX_INVITATIONS].clone())
        );
    }
}
