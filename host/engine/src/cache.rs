//! The compiled-artifact cache: compiled packs on disk, keyed by the pack's
//! sha256 and the engine's compatibility hash, authenticated with an HMAC so
//! that the host only ever deserializes artifacts it wrote itself. The
//! directory is bounded: past its byte budget the least recently used
//! artifacts (by modification time, refreshed on every hit) are removed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 32;
const KEY_FILE: &str = "cache.key";

/// A directory of compiled packs.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    compat: String,
    max_bytes: u64,
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash is
/// stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ArtifactCache {
    /// Opens (creating if needed) a cache directory and its secret key.
    pub fn open(
        dir: &Path,
        engine: &wasmtime::Engine,
        max_bytes: u64,
    ) -> std::io::Result<ArtifactCache> {
        fs::create_dir_all(dir)?;
        restrict(dir, 0o700)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut h = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat = hex::encode(&h.0.finalize()[..8]);
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            key,
            compat,
            max_bytes,
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.compat))
    }

    fn mac(&self, artifact: &[u8], digest: &str) -> HmacSha256 {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac takes keys of any length"));
        mac.update(digest.as_bytes());
        mac.update(self.compat.as_bytes());
        mac.update(artifact);
        mac
    }

    /// The authenticated artifact for `digest`, if present. `Err(())` when a
    /// file exists but its tag does not verify (it is then removed).
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, ()> {
        let path = self.path(digest);
        let Ok(mut bytes) = fs::read(&path) else {
            return Ok(None);
        };
        if bytes.len() < TAG_LEN {
            let _ = fs::remove_file(&path);
            return Err(());
        }
        let split = bytes.len() - TAG_LEN;
        if self
            .mac(&bytes[..split], digest)
            .verify_slice(&bytes[split..])
            .is_err()
        {
            let _ = fs::remove_file(&path);
            return Err(());
        }
        bytes.truncate(split);
        // Recently used: the last to be evicted.
        if let Ok(f) = fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Ok(Some(bytes))
    }

    /// Stores an artifact atomically (write to a temporary file, then rename).
    pub fn put(&self, digest: &str, artifact: &[u8]) -> std::io::Result<()> {
        let path = self.path(digest);
        let tmp = self
            .dir
            .join(format!(".{digest}.{}.tmp", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(artifact)?;
        file.write_all(&self.mac(artifact, digest).finalize().into_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &path)?;
        self.trim(&path);
        Ok(())
    }

    /// Removes the least recently used artifacts until the directory's
    /// artifacts fit the budget; `keep` (just written) goes last.
    fn trim(&self, keep: &Path) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return;
        }
        files.sort_by_key(|f| (f.2 == keep, f.0));
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

fn load_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    if let Ok(bytes) = fs::read(path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = fs::File::create(&tmp)?;
        restrict(&tmp, 0o600)?;
        file.write_all(&key)?;
        file.sync_all()?;
    }
    // Another process may have raced us: keep whichever key landed first.
    if fs::hard_link(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
        let bytes = fs::read(path)?;
        return <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| std::io::Error::other("cache key file has the wrong length"));
    }
    let _ = fs::remove_file(&tmp);
    Ok(key)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn engine() -> wasmtime::Engine {
        wasmtime::Engine::default()
    }

    #[test]
    fn the_directory_stays_within_its_budget_evicting_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path(), &engine(), 3000).unwrap();
        let blob = vec![7u8; 1000 - TAG_LEN];
        let t = |s: u64| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        for (i, d) in ["a", "b", "c"].iter().enumerate() {
            cache.put(d, &blob).unwrap();
            // Distinct, ordered times regardless of the file system's clock.
            let f = fs::File::options()
                .append(true)
                .open(cache.path(d))
                .unwrap();
            f.set_modified(t(1000 + i as u64)).unwrap();
        }
        // `a` is used again: `b` is now the least recently used.
        assert!(cache.get("a").unwrap().is_some());
        cache.put("d", &blob).unwrap();
        assert!(cache.get("b").unwrap().is_none(), "b was not evicted");
        for d in ["a", "c", "d"] {
            assert!(cache.get(d).unwrap().is_some(), "{d} was evicted");
        }
        let total: u64 = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert!(total <= 3000, "{total}");
    }
}
