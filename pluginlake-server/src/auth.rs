//! API keys: `plk_` followed by 32 random bytes (hex), shown once when created; only their
//! SHA-256 is stored (in a keys file), and a presented key is compared with every stored hash
//! in constant time. Keys carry scopes: `ingest:<dataset>` or `ingest:*`, `read:<schema>` or
//! `read:*`, and `admin` (everything).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use pluginlake::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every key.
pub const KEY_PREFIX: &str = "plk_";

/// What a key may do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Ingest into a dataset (`None`: every dataset, `ingest:*`).
    Ingest(Option<String>),
    /// Read a schema (`None`: every schema, `read:*`).
    Read(Option<String>),
    /// Everything.
    Admin,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Ingest(t) => write!(f, "ingest:{}", t.as_deref().unwrap_or("*")),
            Scope::Read(t) => write!(f, "read:{}", t.as_deref().unwrap_or("*")),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// `admin`, `ingest:*`, `ingest:<dataset>`, `read:*` or `read:<schema>`.
    fn from_str(s: &str) -> Result<Self> {
        let target = |t: &str| -> Result<Option<String>> {
            match t {
                "*" => Ok(None),
                t if !t.is_empty()
                    && t.len() <= 64
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    Ok(Some(t.to_owned()))
                }
                _ => Err(Error::Config(format!(
                    "scope {s:?}: the target must be * or a name of letters, digits, '_' and '-'"
                ))),
            }
        };
        match s.split_once(':') {
            None if s == "admin" => Ok(Scope::Admin),
            Some(("ingest", t)) => Ok(Scope::Ingest(target(t)?)),
            Some(("read", t)) => Ok(Scope::Read(target(t)?)),
            _ => Err(Error::Config(format!(
                "unknown scope {s:?}: use admin, ingest:<dataset>, ingest:*, read:<schema> or read:*"
            ))),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A stored key: its id (shown in logs instead of the key), the SHA-256 of the key (hex), and
/// its scopes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key's name, for logs and audits.
    pub id: String,
    /// SHA-256 of the whole key text, in hex.
    pub sha256: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// True when the key may ingest into `dataset`.
    pub fn may_ingest(&self, dataset: &str) -> bool {
        self.scopes.iter().any(|s| match s {
            Scope::Admin | Scope::Ingest(None) => true,
            Scope::Ingest(Some(d)) => d == dataset,
            Scope::Read(_) => false,
        })
    }

    /// True when the key may read `schema`.
    pub fn may_read(&self, schema: &str) -> bool {
        self.scopes.iter().any(|s| match s {
            Scope::Admin | Scope::Read(None) => true,
            Scope::Read(Some(d)) => d == schema,
            Scope::Ingest(_) => false,
        })
    }

    /// True for admin keys.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }
}

/// The keys a server accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    /// The stored keys.
    pub keys: Vec<ApiKey>,
}

impl KeyRing {
    /// A ring of these keys.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        KeyRing { keys }
    }

    /// The keys file at `path` (JSON: `{"keys": [{"id", "sha256", "scopes"}]}`); a missing
    /// file is an empty ring.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("keys file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyRing::default()),
            Err(e) => Err(Error::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }

    /// The stored key matching `presented`, comparing its hash with every stored hash in
    /// constant time (no early exit).
    pub fn verify(&self, presented: &str) -> Option<&ApiKey> {
        let hash = Sha256::digest(presented.as_bytes());
        let mut found = None;
        for key in &self.keys {
            let Ok(stored) = hex::decode(&key.sha256) else {
                continue;
            };
            if bool::from(stored.as_slice().ct_eq(&hash[..])) {
                found = Some(key);
            }
        }
        found.filter(|_| presented.starts_with(KEY_PREFIX))
    }
}

/// A new key: its text (`plk_` + 64 hex digits) and the SHA-256 of that text (hex).
pub fn generate_key() -> Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("the system's random source failed: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    Ok((key, hash))
}

/// Create a key named `id` with `scopes` in the keys file at `path` (created if missing,
/// replaced atomically), and return the key's text: the only time it is shown. An `id`
/// already in the file is refused.
pub fn create_key(path: &Path, id: &str, scopes: &[Scope]) -> Result<String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Config(format!(
            "key id {id:?}: use 1 to 64 visible ASCII characters"
        )));
    }
    if scopes.is_empty() {
        return Err(Error::Config(format!(
            "key {id}: give it at least one scope"
        )));
    }
    let mut ring = KeyRing::load(path)?;
    if ring.keys.iter().any(|k| k.id == id) {
        return Err(Error::Config(format!("a key named {id:?} exists already")));
    }
    let (key, sha256) = generate_key()?;
    ring.keys.push(ApiKey {
        id: id.to_owned(),
        sha256,
        scopes: scopes.to_vec(),
    });
    let text = serde_json::to_vec_pretty(&ring)
        .map_err(|e| Error::Internal(format!("serializing the keys file: {e}")))?;
    let io = |e| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_verifies_and_only_its_hash_is_stored() {
        let dir = tempfile_dir();
        let path = dir.join("keys.json");
        let key = create_key(&path, "loader", &["ingest:labs".parse().unwrap()]).unwrap();
        assert!(key.starts_with("plk_") && key.len() == 4 + 64, "{key}");
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(!stored.contains(&key[4..]), "the key itself is stored");
        let ring = KeyRing::load(&path).unwrap();
        let found = ring.verify(&key).expect("the key verifies");
        assert_eq!(found.id, "loader");
        assert!(found.may_ingest("labs") && !found.may_ingest("other"));
        assert!(ring.verify("plk_0000").is_none());
        assert!(create_key(&path, "loader", &[Scope::Admin]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn scopes_parse_and_print() {
        for s in ["admin", "ingest:*", "ingest:labs", "read:*", "read:omop"] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        for bad in ["", "write:x", "ingest:", "ingest:a/b", "admin:x"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?}");
        }
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("plk-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
