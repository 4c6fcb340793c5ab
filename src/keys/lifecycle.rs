//! Key states derived from timestamps, so every instance sharing a keys
//! directory agrees on them at the same moment without coordination:
//! `next` until `activates_at`; then `active` while it is the most recently
//! activated key; then `retiring` until `removes_at`; then gone.

use serde::Serialize;

use super::KeyMeta;

/// Lifecycle of a key (CONTRACT §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retiring,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
        }
    }
}

/// The state of each key at `now`; `None` for a key that is gone.
pub fn states(metas: &[&KeyMeta], now: i64) -> Vec<Option<KeyState>> {
    let removed = |m: &KeyMeta| m.removes_at.is_some_and(|at| at <= now);
    let active = metas
        .iter()
        .enumerate()
        .filter(|(_, m)| m.activates() <= now && !removed(m))
        .max_by_key(|(i, m)| precedence(m, *i))
        .map(|(i, _)| i);
    metas
        .iter()
        .enumerate()
        .map(|(i, m)| match () {
            _ if removed(m) => None,
            _ if m.activates() > now => Some(KeyState::Next),
            _ if Some(i) == active => Some(KeyState::Active),
            _ => Some(KeyState::Retiring),
        })
        .collect()
}

/// Which activated key signs: the latest activation; in a tie (an emergency
/// rotation in the same second) the key that was not replaced, then the
/// newer one.
pub(super) fn precedence(meta: &KeyMeta, index: usize) -> (i64, bool, i64, usize) {
    (
        meta.activates(),
        meta.removes_at.is_none(),
        meta.created_at,
        index,
    )
}

/// When each key stops signing: the activation of the key activated after it.
pub fn retires_at(metas: &[&KeyMeta], index: usize) -> Option<i64> {
    let own = metas.get(index)?.activates();
    metas
        .iter()
        .map(|m| m.activates())
        .filter(|at| *at > own)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(activates_at: i64, removes_at: Option<i64>) -> KeyMeta {
        KeyMeta {
            alg: "EdDSA".into(),
            created_at: activates_at - 10,
            activates_at: Some(activates_at),
            removes_at,
        }
    }

    #[test]
    fn a_rotation_cycle() {
        let old = meta(0, Some(200));
        let new = meta(100, None);
        let keys = [&old, &new];
        use KeyState::*;
        assert_eq!(states(&keys, 50), vec![Some(Active), Some(Next)]);
        assert_eq!(states(&keys, 100), vec![Some(Retiring), Some(Active)]);
        assert_eq!(states(&keys, 199), vec![Some(Retiring), Some(Active)]);
        assert_eq!(states(&keys, 200), vec![None, Some(Active)]);
        assert_eq!(retires_at(&keys, 0), Some(100));
        assert_eq!(retires_at(&keys, 1), None);
    }

    #[test]
    fn a_same_second_emergency_rotation_hands_over() {
        let old = meta(100, Some(1000));
        let new = meta(100, None);
        for keys in [[&old, &new], [&new, &old]] {
            let states = states(&keys, 100);
            let active = keys[states
                .iter()
                .position(|s| *s == Some(KeyState::Active))
                .unwrap()];
            assert_eq!(active.removes_at, None, "the replacement signs");
        }
    }

    #[test]
    fn a_revoked_active_key_hands_over_to_the_previous_one_only_if_published() {
        let old = meta(0, Some(10));
        let new = meta(5, Some(6));
        assert_eq!(states(&[&old, &new], 7), vec![Some(KeyState::Active), None]);
    }
}
