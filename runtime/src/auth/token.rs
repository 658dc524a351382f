//! [`TokenSigner`]: issues, verifies and renews HS256 session tokens, as pure functions of
//! the token and the current time (no clock inside, so tests pass the time in).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::claims::{Claims, RESERVED};
use super::error::AuthError;

/// Seconds since the Unix epoch at `time` (0 before it).
pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The settings a signer needs.
#[derive(Debug, Clone)]
pub(crate) struct TokenRules {
    pub(crate) lifetime: Duration,
    pub(crate) max_session: Duration,
    pub(crate) leeway: Duration,
    pub(crate) max_token_bytes: usize,
}

/// Signs and checks tokens under one shared secret.
pub(crate) struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) rules: TokenRules,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer for `secret` (which must not be empty).
    pub(crate) fn new(secret: &[u8], rules: TokenRules) -> Result<TokenSigner, AuthError> {
        let bad_key = |e: jsonwebtoken::errors::Error| AuthError::Claims(format!("secret: {e}"));
        let encoding = EncodingKey::from_secret(secret).map_err(bad_key)?;
        let decoding = DecodingKey::from_secret(secret).map_err(bad_key)?;
        // The expiry is checked here against the time the caller passes, not the crate's
        // clock; the signature and the algorithm (HS256 only) by the crate.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        Ok(TokenSigner {
            encoding,
            decoding,
            validation,
            rules,
        })
    }

    /// A token for `subject` with `custom` claims, opening session `jti` at `now`.
    pub(crate) fn issue(
        &self,
        subject: &str,
        custom: Map<String, Value>,
        jti: String,
        now: SystemTime,
    ) -> Result<(String, Claims), AuthError> {
        if let Some(name) = custom.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(AuthError::Claims(format!("`{name}` is a reserved claim")));
        }
        let now = unix_secs(now);
        let claims = Claims {
            sub: subject.to_owned(),
            jti,
            iat: now,
            exp: now + self.rules.lifetime.min(self.rules.max_session).as_secs(),
            auth_time: now,
            custom,
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// A new token of the session `current` belongs to, at `now`: same subject, session id,
    /// start and custom claims; a new `iat`, and an `exp` one lifetime on, never past the
    /// session's limit.
    pub(crate) fn renew(
        &self,
        current: &Claims,
        now: SystemTime,
    ) -> Result<(String, Claims), AuthError> {
        let now = unix_secs(now);
        let limit = self.session_end(current);
        if now >= limit {
            return Err(AuthError::SessionLimit);
        }
        let claims = Claims {
            iat: now,
            exp: (now + self.rules.lifetime.as_secs()).min(limit),
            ..current.clone()
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// The last second any token of `claims`'s session can be valid.
    pub(crate) fn session_end(&self, claims: &Claims) -> u64 {
        claims.auth_time + self.rules.max_session.as_secs()
    }

    fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Claims(e.to_string()))?;
        if token.len() > self.rules.max_token_bytes {
            return Err(AuthError::Claims(format!(
                "the token would be {} bytes, over the bound of {}",
                token.len(),
                self.rules.max_token_bytes
            )));
        }
        Ok(token)
    }

    /// The claims of `token` when it is well formed, signed with this secret and unexpired
    /// at `now` (revocation is checked by the caller).
    pub(crate) fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > self.rules.max_token_bytes {
            return Err(AuthError::Malformed(format!(
                "{} bytes, over the bound of {}",
                token.len(),
                self.rules.max_token_bytes
            )));
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                _ => AuthError::Malformed(e.to_string()),
            })?
            .claims;
        if unix_secs(now) >= claims.exp + self.rules.leeway.as_secs() {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn signer(secret: &[u8]) -> TokenSigner {
        TokenSigner::new(
            secret,
            TokenRules {
                lifetime: Duration::from_secs(60),
                max_session: Duration::from_secs(600),
                leeway: Duration::ZERO,
                max_token_bytes: 1024,
            },
        )
        .unwrap()
    }

    fn custom() -> Map<String, Value> {
        let mut custom = Map::new();
        custom.insert("role".into(), "guest".into());
        custom
    }

    #[test]
    fn a_token_verifies_until_its_expiry() {
        let s = signer(b"secret");
        let (token, claims) = s.issue("ada", custom(), "j1".into(), at(1000)).unwrap();
        assert_eq!(
            (claims.iat, claims.exp, claims.auth_time),
            (1000, 1060, 1000)
        );
        assert_eq!(s.verify(&token, at(1000)).unwrap(), claims);
        assert_eq!(
            s.verify(&token, at(1059)).unwrap().get("role").unwrap(),
            "guest"
        );
        assert_eq!(s.verify(&token, at(1060)), Err(AuthError::Expired));
        assert_eq!(s.verify(&token, at(5000)), Err(AuthError::Expired));
    }

    #[test]
    fn leeway_tolerates_clock_skew() {
        let mut s = signer(b"secret");
        s.rules.leeway = Duration::from_secs(5);
        let (token, _) = s.issue("ada", Map::new(), "j1".into(), at(1000)).unwrap();
        assert!(s.verify(&token, at(1064)).is_ok());
        assert_eq!(s.verify(&token, at(1065)), Err(AuthError::Expired));
    }

    #[test]
    fn another_secret_or_altered_claims_are_a_bad_signature() {
        let s = signer(b"secret");
        let (token, _) = s.issue("ada", custom(), "j1".into(), at(1000)).unwrap();
        assert_eq!(
            signer(b"other").verify(&token, at(1000)),
            Err(AuthError::BadSignature)
        );
        // Claim to be someone else, keep the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "root".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(s.verify(&forged, at(1000)), Err(AuthError::BadSignature));
        // A flipped signature byte.
        let mut sig = b64.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64.encode(sig));
        assert_eq!(s.verify(&flipped, at(1000)), Err(AuthError::BadSignature));
    }

    #[test]
    fn garbage_other_algorithms_and_oversized_tokens_are_malformed() {
        let s = signer(b"secret");
        for bad in ["x", "a.b", "a.b.c", "....", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(
                matches!(s.verify(bad, at(0)), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(s.verify("", at(0)), Err(AuthError::Missing));
        let huge = "a".repeat(1025);
        assert!(matches!(
            s.verify(&huge, at(0)),
            Err(AuthError::Malformed(_))
        ));
        // Signed, but not claims of this form (no jti).
        let odd = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "ada", "exp": 2000}),
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap();
        assert!(matches!(
            s.verify(&odd, at(0)),
            Err(AuthError::Malformed(_))
        ));
        // HS512 under the same secret: refused, only HS256 is accepted.
        let (_, claims) = s.issue("ada", Map::new(), "j".into(), at(0)).unwrap();
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap();
        assert!(matches!(
            s.verify(&hs512, at(0)),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn reserved_names_and_oversized_claims_are_not_issued() {
        let s = signer(b"secret");
        let mut custom = Map::new();
        custom.insert("exp".into(), 1.into());
        assert!(matches!(
            s.issue("ada", custom, "j".into(), at(0)),
            Err(AuthError::Claims(_))
        ));
        let mut big = Map::new();
        big.insert("blob".into(), "x".repeat(2000).into());
        assert!(matches!(
            s.issue("ada", big, "j".into(), at(0)),
            Err(AuthError::Claims(_))
        ));
    }

    #[test]
    fn renewal_keeps_the_session_and_stops_at_its_limit() {
        let s = signer(b"secret");
        let (_, first) = s.issue("ada", custom(), "j1".into(), at(1000)).unwrap();
        let (token, renewed) = s.renew(&first, at(1050)).unwrap();
        assert_eq!((renewed.iat, renewed.exp), (1050, 1110));
        assert_eq!(
            (
                &renewed.sub,
                &renewed.jti,
                renewed.auth_time,
                &renewed.custom
            ),
            (&first.sub, &first.jti, 1000, &first.custom)
        );
        assert_eq!(s.verify(&token, at(1100)).unwrap(), renewed);
        // Near the limit the expiry is cut to it; at the limit renewal is refused.
        let (_, late) = s.renew(&first, at(1580)).unwrap();
        assert_eq!(late.exp, 1600);
        assert_eq!(s.renew(&first, at(1600)), Err(AuthError::SessionLimit));
    }
}
