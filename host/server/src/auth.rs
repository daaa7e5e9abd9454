//! Bearer-token authentication (JWT: EdDSA, RS256, and HS256 only when
//! enabled for development) and role/tenant authorization.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// A role a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Manages tenants, fleet packs, the fleet layer and rollouts.
    FleetAdmin,
    /// Manages one tenant's composition and private packs.
    Operator,
    /// Decides escalations: votes where a step names the token's `sub` or
    /// one of its `groups`.
    Approver,
    /// An agent approver: votes where a step names it as an agent (its
    /// votes are advisory unless the policy counts them).
    Agent,
    /// An agent runtime: asks for decisions.
    Runtime,
    /// Reads everything of a tenant, changes nothing.
    Auditor,
}

impl Role {
    /// The role's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::FleetAdmin => "fleet-admin",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Agent => "agent",
            Role::Runtime => "runtime",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::FleetAdmin,
            Role::Operator,
            Role::Approver,
            Role::Agent,
            Role::Runtime,
            Role::Auditor,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The claims warden requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: a person or a service.
    pub sub: String,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// A tenant id, or `*` for fleet scope.
    pub tenant: String,
    /// Granted roles.
    pub roles: Vec<Role>,
    /// Groups the subject belongs to, as OIDC providers issue them
    /// (approval steps may name a group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Issued at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// Whether the token may act on `tenant` (its own, or any with `*`).
    pub fn covers(&self, tenant: &str) -> bool {
        self.tenant == crate::FLEET || self.tenant == tenant
    }

    /// Whether the token has any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// Whether the token is a fleet-scope admin.
    pub fn is_fleet_admin(&self) -> bool {
        self.tenant == crate::FLEET && self.roles.contains(&Role::FleetAdmin)
    }
}

/// Why a request is not authenticated. Deliberately vague towards callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Bad signature, expired, malformed, missing claims.
    #[error("invalid or expired token")]
    Invalid,
}

/// Configuration error for keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// A key is not an Ed25519 or RSA public key in PEM.
    #[error("`{0}` is not an Ed25519 or RSA public key in PEM form")]
    BadKey(String),
    /// The HS256 secret is too short.
    #[error("the HS256 development secret must be at least 32 bytes")]
    ShortSecret,
}

const TOKEN_CACHE_MAX: usize = 10_000;

/// Verifies bearer tokens. Verified tokens are cached until they expire, so
/// a runtime that reuses its token pays for the signature check once.
pub struct Authenticator {
    keys: Vec<(Algorithm, DecodingKey)>,
    cache: RwLock<HashMap<String, Claims>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field(
                "algorithms",
                &self.keys.iter().map(|k| k.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    /// An authenticator that accepts no token.
    pub fn new() -> Authenticator {
        Authenticator {
            keys: Vec::new(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Trusts a PEM public key (Ed25519 for EdDSA, or RSA for RS256).
    pub fn add_public_key_pem(&mut self, what: &str, pem: &str) -> Result<(), AuthConfigError> {
        if let Ok(k) = DecodingKey::from_ed_pem(pem.as_bytes()) {
            self.keys.push((Algorithm::EdDSA, k));
        } else if let Ok(k) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
            self.keys.push((Algorithm::RS256, k));
        } else {
            return Err(AuthConfigError::BadKey(what.to_owned()));
        }
        Ok(())
    }

    /// Trusts an HS256 shared secret. For development only.
    pub fn add_hs256_secret(&mut self, secret: &[u8]) -> Result<(), AuthConfigError> {
        if secret.len() < 32 {
            return Err(AuthConfigError::ShortSecret);
        }
        self.keys
            .push((Algorithm::HS256, DecodingKey::from_secret(secret)));
        Ok(())
    }

    /// Whether any key is configured.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Verifies an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let now = now_s();
        if let Ok(cache) = self.cache.read()
            && let Some(c) = cache.get(token)
        {
            return if c.exp > now {
                Ok(c.clone())
            } else {
                Err(AuthError::Invalid)
            };
        }
        let claims = self.verify(token)?;
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.retain(|_, c| c.exp > now);
                if cache.len() >= TOKEN_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        for (alg, key) in self.keys.iter().filter(|(a, _)| *a == header.alg) {
            let mut v = Validation::new(*alg);
            v.leeway = 5;
            v.validate_aud = false;
            v.set_required_spec_claims(&["exp", "sub"]);
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, key, &v) {
                let c = data.claims;
                if c.sub.is_empty() || c.tenant.is_empty() || c.roles.is_empty() {
                    return Err(AuthError::Invalid);
                }
                return Ok(c);
            }
        }
        Err(AuthError::Invalid)
    }
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator::new()
    }
}

/// Error issuing a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The key cannot be used.
    #[error("cannot use signing key: {0}")]
    Key(String),
}

/// A key that signs tokens (for `warden token issue` and development).
pub struct TokenSigner {
    alg: Algorithm,
    key: EncodingKey,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// From a PKCS#8 PEM private key: Ed25519 (EdDSA) or RSA (RS256).
    pub fn from_pem(pem: &str) -> Result<TokenSigner, IssueError> {
        if let Ok(key) = EncodingKey::from_ed_pem(pem.as_bytes()) {
            return Ok(TokenSigner {
                alg: Algorithm::EdDSA,
                key,
            });
        }
        EncodingKey::from_rsa_pem(pem.as_bytes())
            .map(|key| TokenSigner {
                alg: Algorithm::RS256,
                key,
            })
            .map_err(|e| IssueError::Key(e.to_string()))
    }

    /// From an HS256 shared secret.
    pub fn hs256(secret: &[u8]) -> TokenSigner {
        TokenSigner {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
        }
    }

    /// Signs claims for `sub` in `tenant` with `roles`, valid for `ttl`.
    pub fn issue(
        &self,
        sub: &str,
        tenant: &str,
        roles: &[Role],
        ttl: std::time::Duration,
    ) -> Result<String, IssueError> {
        let now = now_s();
        let claims = Claims {
            sub: sub.to_owned(),
            exp: now.saturating_add(ttl.as_secs()),
            tenant: tenant.to_owned(),
            roles: roles.to_vec(),
            groups: Vec::new(),
            iat: Some(now),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use this for expired tokens).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, IssueError> {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key)
            .map_err(|e| IssueError::Key(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use std::time::Duration;

    fn pair() -> (TokenSigner, Authenticator) {
        let k = keys::generate_signing_key().unwrap();
        let signer = TokenSigner::from_pem(&keys::signing_key_pem(&k).unwrap()).unwrap();
        let mut auth = Authenticator::new();
        auth.add_public_key_pem(
            "test",
            &keys::verifying_key_pem(&k.verifying_key()).unwrap(),
        )
        .unwrap();
        (signer, auth)
    }

    #[test]
    fn accepts_valid_eddsa_tokens_and_rejects_others() {
        let (signer, auth) = pair();
        let (other, _) = pair();
        let t = signer
            .issue("bot", "acme", &[Role::Runtime], Duration::from_secs(60))
            .unwrap();
        let c = auth.authenticate(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!((c.sub.as_str(), c.tenant.as_str()), ("bot", "acme"));
        assert!(c.covers("acme") && !c.covers("beta"));
        // Twice: the cached path gives the same answer.
        assert_eq!(auth.authenticate(Some(&format!("Bearer {t}"))).unwrap(), c);
        let forged = other
            .issue("bot", "acme", &[Role::FleetAdmin], Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {forged}"))),
            Err(AuthError::Invalid)
        );
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert_eq!(
            auth.authenticate(Some("Basic abc")),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(Some("Bearer not.a.jwt")),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn rejects_expired_and_incomplete_claims() {
        let (signer, auth) = pair();
        let expired = signer
            .sign(&serde_json::json!({"sub": "a", "exp": now_s() - 3600, "tenant": "acme", "roles": ["runtime"]}))
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {expired}"))),
            Err(AuthError::Invalid)
        );
        for claims in [
            serde_json::json!({"sub": "a", "exp": now_s() + 60, "roles": ["runtime"]}),
            serde_json::json!({"sub": "a", "exp": now_s() + 60, "tenant": "acme"}),
            serde_json::json!({"sub": "a", "exp": now_s() + 60, "tenant": "acme", "roles": ["root"]}),
            serde_json::json!({"sub": "a", "exp": now_s() + 60, "tenant": "acme", "roles": []}),
            serde_json::json!({"exp": now_s() + 60, "tenant": "acme", "roles": ["runtime"]}),
        ] {
            let t = signer.sign(&claims).unwrap();
            assert_eq!(
                auth.authenticate(Some(&format!("Bearer {t}"))),
                Err(AuthError::Invalid),
                "{claims}"
            );
        }
    }

    #[test]
    fn hs256_only_when_configured() {
        let secret = [9u8; 32];
        let t = TokenSigner::hs256(&secret)
            .issue("dev", "*", &[Role::FleetAdmin], Duration::from_secs(60))
            .unwrap();
        let (_, auth) = pair();
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {t}"))),
            Err(AuthError::Invalid)
        );
        let mut dev = Authenticator::new();
        assert!(dev.add_hs256_secret(b"short").is_err());
        dev.add_hs256_secret(&secret).unwrap();
        assert!(
            dev.authenticate(Some(&format!("Bearer {t}")))
                .unwrap()
                .is_fleet_admin()
        );
    }
}
