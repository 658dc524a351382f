//! [`Claims`]: what a session token says, and how a handler reads it off its socket.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::socketio::Socket;

/// The claim names the runtime writes itself; custom claims may not use them.
pub(crate) const RESERVED: [&str; 5] = ["sub", "jti", "iat", "exp", "auth_time"];

/// The verified claims of a session token.
///
/// A socket admitted by [`SessionAuth::protect`](super::SessionAuth::protect) holds the
/// claims of its current token ([`Claims::of`]); a renewal replaces them (same `sub`, `jti`,
/// `auth_time` and custom claims, a new `iat` and `exp`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Whom the token is for (the subject).
    pub sub: String,
    /// The session's unique id: revoking it refuses this token and every renewal of it.
    pub jti: String,
    /// When this token was signed (seconds since the Unix epoch).
    pub iat: u64,
    /// When this token expires (seconds since the Unix epoch).
    pub exp: u64,
    /// When the session began: the `iat` of its first token. Renewals stop at
    /// [`SessionAuthBuilder::max_session`](super::SessionAuthBuilder::max_session) after it.
    pub auth_time: u64,
    /// The custom claims given to [`SessionAuth::issue`](super::SessionAuth::issue).
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

impl Claims {
    /// The claims of the token `socket` was admitted with (or last renewed), when its
    /// namespace is protected by a [`SessionAuth`](super::SessionAuth).
    pub fn of(socket: &Socket) -> Option<Arc<Claims>> {
        socket.extension::<Claims>()
    }

    /// The custom claim `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.custom.get(name)
    }

    /// The custom claims as a `T` (e.g. a struct of the claims given at issue).
    pub fn custom_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(self.custom.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_claims_flatten_beside_the_registered_ones() {
        let mut custom = Map::new();
        custom.insert("role".into(), Value::String("guest".into()));
        let claims = Claims {
            sub: "ada".into(),
            jti: "j1".into(),
            iat: 10,
            exp: 20,
            auth_time: 10,
            custom,
        };
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"sub": "ada", "jti": "j1", "iat": 10, "exp": 20,
                               "auth_time": 10, "role": "guest"})
        );
        let back: Claims = serde_json::from_value(json).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.get("role"), Some(&Value::String("guest".into())));
        #[derive(Deserialize)]
        struct Role {
            role: String,
        }
        assert_eq!(back.custom_as::<Role>().unwrap().role, "guest");
    }
}
