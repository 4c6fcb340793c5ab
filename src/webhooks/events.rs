//! The events of CONTRACT §10 and their JSON bodies, in the Standard
//! Webhooks shape `{"type", "timestamp", "data"}`.

use serde_json::{Value, json};

use crate::store::NewEvent;

/// Something an application may want to act on.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    UserCreated {
        user_id: &'a str,
        email: &'a str,
        created_at: i64,
    },
    /// Carries the token the application mails to the user.
    VerificationRequested {
        user_id: &'a str,
        email: &'a str,
        token: &'a str,
        expires_at: i64,
    },
    /// Carries the token the application mails to the user.
    ResetRequested {
        user_id: &'a str,
        email: &'a str,
        token: &'a str,
        expires_at: i64,
    },
    PasswordChanged {
        user_id: &'a str,
    },
    SessionRevoked {
        user_id: &'a str,
        sid: &'a str,
        reason: &'a str,
    },
}

impl Event<'_> {
    /// The `type` of the body.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::UserCreated { .. } => "user.created",
            Event::VerificationRequested { .. } => "email.verification_requested",
            Event::ResetRequested { .. } => "password.reset_requested",
            Event::PasswordChanged { .. } => "password.changed",
            Event::SessionRevoked { .. } => "session.revoked",
        }
    }

    fn user_id(&self) -> &str {
        match self {
            Event::UserCreated { user_id, .. }
            | Event::VerificationRequested { user_id, .. }
            | Event::ResetRequested { user_id, .. }
            | Event::PasswordChanged { user_id }
            | Event::SessionRevoked { user_id, .. } => user_id,
        }
    }

    fn data(&self) -> Value {
        match *self {
            Event::UserCreated {
                user_id,
                email,
                created_at,
            } => json!({ "user_id": user_id, "email": email, "created_at": rfc3339(created_at) }),
            Event::VerificationRequested {
                user_id,
                email,
                token,
                expires_at,
            }
            | Event::ResetRequested {
                user_id,
                email,
                token,
                expires_at,
            } => json!({
                "user_id": user_id,
                "email": email,
                "token": token,
                "expires_at": rfc3339(expires_at),
            }),
            Event::PasswordChanged { user_id } => json!({ "user_id": user_id }),
            Event::SessionRevoked {
                user_id,
                sid,
                reason,
            } => json!({ "user_id": user_id, "sid": sid, "reason": reason }),
        }
    }

    /// The outbox row: a fresh `webhook-id` and the body as it will be signed.
    pub fn record(&self, now: i64) -> NewEvent {
        let body = json!({ "type": self.kind(), "timestamp": rfc3339(now), "data": self.data() });
        NewEvent {
            id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
            user_id: self.user_id().to_owned(),
            event_type: self.kind().to_owned(),
            payload: body.to_string(),
            created_at: now,
        }
    }
}

/// One `session.revoked` per sid.
pub fn sessions_revoked(user_id: &str, sids: &[String], reason: &str, now: i64) -> Vec<NewEvent> {
    sids.iter()
        .map(|sid| {
            Event::SessionRevoked {
                user_id,
                sid,
                reason,
            }
            .record(now)
        })
        .collect()
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_the_standard_shape() {
        let event = Event::SessionRevoked {
            user_id: "u1",
            sid: "s1",
            reason: "password reset",
        }
        .record(0);
        assert!(event.id.starts_with("msg_"));
        assert_eq!(event.user_id, "u1");
        let body: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(body["type"], "session.revoked");
        assert_eq!(body["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(body["data"]["sid"], "s1");
    }
}
