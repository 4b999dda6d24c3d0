//! Compiled components on disk, keyed by the upload's digest, so a node
//! restart (or a second tenant uploading the same bytes) does not compile
//! again: Cranelift needs seconds for a JavaScript component, loading an
//! artifact milliseconds.
//!
//! One file per (digest, engine): `<digest hex>-<engine tag>.cwasm`, where
//! the engine tag is a hash of wasmtime's
//! [`Engine::precompile_compatibility_hash`] (which covers wasmtime's
//! version and every compile setting), so an upgrade or a config change
//! never loads an old artifact. A file holds [`MAGIC`], the SHA-256 of the
//! artifact, then the artifact; files are written to a temporary name,
//! synced, and renamed into place. A file that fails any check is logged,
//! removed and rewritten by the next compile.

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The file name extension of artifacts.
pub const ARTIFACT_EXTENSION: &str = "cwasm";

/// The first bytes of every artifact file (format version 1).
const MAGIC: &[u8; 8] = b"BCNCWSM1";

/// Length of the header: [`MAGIC`] and a SHA-256.
const HEADER_BYTES: usize = MAGIC.len() + 32;

/// Largest artifact file read back; anything bigger is treated as corrupt.
/// (A 20 MiB JavaScript component compiles to well under this.)
pub const MAX_ARTIFACT_BYTES: u64 = 1024 * 1024 * 1024;

/// Most directory entries looked at when sweeping stale files at start.
const MAX_SWEEP_ENTRIES: usize = 100_000;

/// Distinguishes concurrent temporary files of this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Age after which a temporary file counts as left by a crash. Younger ones
/// may be another node's write in progress (nodes may share the
/// directory): removing one would make that node's rename fail.
const LEFTOVER_AGE: Duration = Duration::from_secs(15 * 60);

/// The artifact cache in one directory that belongs to this process.
#[derive(Debug)]
pub(super) struct Cache {
    dir: PathBuf,
    /// Hex hash of the engine's compatibility settings (16 characters).
    engine_tag: String,
}

impl Cache {
    /// Opens (creating if needed, owner-only) the cache in `dir`, and
    /// removes artifacts of other engines and leftover temporary files.
    pub(super) fn open(dir: &Path, engine: &Engine) -> io::Result<Cache> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let cache = Cache {
            dir: dir.to_owned(),
            engine_tag: engine_tag(engine),
        };
        cache.sweep();
        Ok(cache)
    }

    /// The file of `digest` (`sha256:<64 hex>`), or `None` for a digest of
    /// another shape (which never names a file).
    pub(super) fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(
            self.dir
                .join(format!("{hex}-{}.{ARTIFACT_EXTENSION}", self.engine_tag)),
        )
    }

    /// The cached component of `digest`, if a sound artifact is on disk.
    /// A bad file is logged and removed. Blocking: call it off the async
    /// workers.
    pub(super) fn get(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest)?;
        let contents = match read_bounded(&path) {
            Ok(Some(contents)) => contents,
            Ok(None) => return None,
            Err(error) => {
                self.discard(&path, &format!("unreadable: {error}"));
                return None;
            }
        };
        let Some(artifact) = verified(&contents) else {
            self.discard(&path, "corrupt (bad header or checksum)");
            return None;
        };
        match deserialize(engine, artifact) {
            Ok(component) => Some(component),
            Err(error) => {
                self.discard(&path, &format!("rejected by wasmtime: {error}"));
                None
            }
        }
    }

    /// Stores `component` as the artifact of `digest`. Failures are logged
    /// and otherwise ignored (the cache is an optimisation). Blocking.
    pub(super) fn put(&self, digest: &str, component: &Component) {
        let Some(path) = self.path(digest) else {
            return;
        };
        let artifact = match component.serialize() {
            Ok(artifact) => artifact,
            Err(error) => {
                tracing::warn!(%digest, %error, "cannot serialise a compiled plugin");
                return;
            }
        };
        if let Err(error) = write_atomically(&self.dir, &path, &artifact) {
            tracing::warn!(path = %path.display(), %error, "cannot write a compiled plugin to the cache");
        }
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), why, "ignoring a cached compiled plugin; it will be rewritten");
        if let Err(error) = fs::remove_file(path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "cannot remove a bad cached plugin");
        }
    }

    /// Removes artifacts of other engines and temporary files left by a
    /// crash (older than [`LEFTOVER_AGE`]: a younger one may be another
    /// node's write in progress). Errors are logged; the cache works
    /// without the sweep.
    fn sweep(&self) {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot list the plugin cache");
                return;
            }
        };
        let current = format!("-{}.{ARTIFACT_EXTENSION}", self.engine_tag);
        let mut removed = 0usize;
        for entry in entries.take(MAX_SWEEP_ENTRIES).flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let stale_artifact =
                name.ends_with(&format!(".{ARTIFACT_EXTENSION}")) && !name.ends_with(&current);
            let leftover = name.starts_with('.') && name.ends_with(".tmp") && is_old(&entry);
            if (stale_artifact || leftover) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(dir = %self.dir.display(), removed, "removed stale compiled plugins");
        }
    }
}

/// Whether a directory entry was last modified more than [`LEFTOVER_AGE`]
/// ago (an unreadable time counts as recent: the file is kept).
fn is_old(entry: &fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > LEFTOVER_AGE)
}

/// Turns an artifact's bytes back into a component.
///
/// The only unsafe code of the host.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires the bytes to be an unmodified artifact of
    // `Component::serialize`, because it maps them as executable code
    // without validating them. They are: the files of this cache are
    // written only by this process (`Cache::put`, from
    // `Component::serialize`) into its own owner-only data directory,
    // atomically (temporary file, sync, rename), so a reader never sees a
    // partial file; and `verified` has just checked the SHA-256 recorded
    // at write time over exactly these bytes, so a truncated, bit-rotten or
    // foreign file never gets here. wasmtime itself then refuses artifacts
    // of another version or configuration (the file name already keys on
    // both).
    unsafe { Component::deserialize(engine, artifact) }
}

/// The artifact inside `contents` if the header and checksum are right.
fn verified(contents: &[u8]) -> Option<&[u8]> {
    if contents.len() < HEADER_BYTES || &contents[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (header, artifact) = contents.split_at(HEADER_BYTES);
    let sum = Sha256::digest(artifact);
    (header[MAGIC.len()..] == sum[..]).then_some(artifact)
}

/// The whole file, `None` if it does not exist; an error if it is larger
/// than [`MAX_ARTIFACT_BYTES`].
fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let len = file.metadata()?.len();
    if len > MAX_ARTIFACT_BYTES {
        return Err(io::Error::other(format!(
            "{len} bytes, more than {MAX_ARTIFACT_BYTES}"
        )));
    }
    let mut contents = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_ARTIFACT_BYTES).read_to_end(&mut contents)?;
    Ok(Some(contents))
}

/// Writes header + `artifact` to a temporary file in `dir`, syncs it and
/// renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, artifact: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("artifact");
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = File::create_new(&temp)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(artifact))?;
        file.write_all(artifact)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    // Make the rename durable; best effort (not every platform can).
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// 16 hex characters identifying the engine's compile settings.
fn engine_tag(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// A [`Hasher`] over SHA-256: stable across processes and Rust releases,
/// unlike the standard library's.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let sum = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&sum[..8]);
        u64::from_le_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn paths_key_on_digest_and_engine() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = Cache::open(dir.path(), &engine).unwrap();
        let path = cache.path(DIGEST).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("0123456789abcdef"), "{name}");
        assert!(
            name.ends_with(&format!("-{}.cwasm", engine_tag(&engine))),
            "{name}"
        );
        assert_eq!(cache.path("sha256:../../etc/passwd"), None);
        assert_eq!(cache.path("md5:0123"), None);
        // Another configuration, another tag.
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        let other = Engine::new(&config).unwrap();
        assert_ne!(engine_tag(&engine), engine_tag(&other));
        assert_eq!(engine_tag(&engine), engine_tag(&Engine::default()));
    }

    #[test]
    fn checksums_guard_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        write_atomically(dir.path(), &path, b"artifact bytes").unwrap();
        let contents = read_bounded(&path).unwrap().unwrap();
        assert_eq!(verified(&contents), Some(&b"artifact bytes"[..]));
        let mut flipped = contents.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(verified(&flipped), None);
        assert_eq!(verified(&contents[..HEADER_BYTES - 1]), None);
        assert_eq!(verified(b"garbage"), None);
        assert_eq!(read_bounded(&dir.path().join("missing")).unwrap(), None);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.cwasm"]);
    }

    #[test]
    fn open_sweeps_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let keep = format!("{}-{}.cwasm", "ab".repeat(32), engine_tag(&engine));
        for name in [
            keep.as_str(),
            "cd-0000000000000000.cwasm",
            ".x.cwasm.1.2.tmp",
            ".y.cwasm.3.4.tmp",
            "notes.txt",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        // A crash's leftover is old; a fresh temporary file may be another
        // node's write in progress and stays.
        let long_ago = SystemTime::now() - LEFTOVER_AGE - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(dir.path().join(".x.cwasm.1.2.tmp"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        Cache::open(dir.path(), &engine).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".y.cwasm.3.4.tmp", keep.as_str(), "notes.txt"]);
    }
}
