//! Key files in `keys_dir`: `<kid>.pem` (PKCS#8, mode 0600) with its state in
//! `<kid>.json` beside it. Writes go through a temp file, fsync and rename so
//! a crash never leaves half a key. A private file that other users can read
//! or write is refused: its key may be known to, or planted by, someone else.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::KeyError;
use super::SigningAlg;

/// What is known about a key besides its private bytes: its algorithm and
/// schedule (the state follows from the schedule, see `lifecycle`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub alg: String,
    pub created_at: i64,
    /// When it starts signing; `None` means at creation.
    pub activates_at: Option<i64>,
    /// When it leaves the JWKS; `None` while nothing replaced it.
    pub removes_at: Option<i64>,
}

impl KeyMeta {
    pub fn activates(&self) -> i64 {
        self.activates_at.unwrap_or(self.created_at)
    }
}

/// One key as read from disk.
pub struct KeyFile {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    pub meta: KeyMeta,
}

/// Reads every `*.pem` key (and its state) in `dir`, each with its own
/// outcome so a caller can refuse or skip malformed ones.
pub fn read_all(dir: &Path) -> Result<Vec<Result<KeyFile, KeyError>>, KeyError> {
    let entries = fs::read_dir(dir).map_err(|e| KeyError::io(dir, e))?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| KeyError::io(dir, e))?.path();
        if path.extension().is_some_and(|ext| ext == "pem") {
            keys.push(read_one(&path));
        }
    }
    Ok(keys)
}

/// Rewrites a key's state file.
pub fn write_meta(dir: &Path, kid: &str, meta: &KeyMeta) -> Result<(), KeyError> {
    let text =
        serde_json::to_vec_pretty(meta).map_err(|e| KeyError::malformed(dir, &e.to_string()))?;
    write_atomic(&dir.join(format!("{kid}.json")), &text, 0o644)
}

/// Name, size, modification time and mode of each key file.
pub type Fingerprint = Vec<(String, u64, Option<std::time::SystemTime>, u32)>;

/// Changes when any key file does, its mode included (a `chmod` of a
/// refused file brings it in).
pub fn fingerprint(dir: &Path) -> Fingerprint {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relevant = name.ends_with(".pem") || name.ends_with(".json");
            let meta = entry.metadata().ok()?;
            relevant.then(|| (name, meta.len(), meta.modified().ok(), mode(&meta)))
        })
        .collect();
    entries.sort();
    entries
}

fn read_one(pem_path: &Path) -> Result<KeyFile, KeyError> {
    let kid = pem_path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| KeyError::malformed(pem_path, "the file name is not a key id"))?
        .to_owned();
    let text = read_private(pem_path)?
        .ok_or_else(|| KeyError::io(pem_path, std::io::ErrorKind::NotFound.into()))?;
    let block = pem::parse(text).map_err(|e| KeyError::malformed(pem_path, &e.to_string()))?;
    if block.tag() != "PRIVATE KEY" {
        return Err(KeyError::malformed(
            pem_path,
            "expected a PKCS#8 `PRIVATE KEY` block",
        ));
    }
    let meta_path = pem_path.with_extension("json");
    let meta_text = fs::read_to_string(&meta_path).map_err(|e| KeyError::io(&meta_path, e))?;
    let meta = serde_json::from_str(&meta_text)
        .map_err(|e| KeyError::malformed(&meta_path, &e.to_string()))?;
    Ok(KeyFile {
        kid,
        pkcs8: block.into_contents(),
        meta,
    })
}

/// The contents of a private file (a key, `refresh.secret`); `None` when it
/// does not exist. Refuses a file that group or others may read or write.
/// The mode is taken from the opened file, so it is the one read.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KeyError::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| KeyError::io(path, e))?;
    let mode = mode(&meta);
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| KeyError::io(path, e))?;
    Ok(Some(bytes))
}

/// Permission bits (0 where there are none to check).
fn mode(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Writes a new key and its state; the key file is private to the owner.
pub fn write(dir: &Path, kid: &str, pkcs8: &[u8], meta: &KeyMeta) -> Result<(), KeyError> {
    fs::create_dir_all(dir).map_err(|e| KeyError::io(dir, e))?;
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()));
    // State first: a key file without state would be refused at load.
    write_meta(dir, kid, meta)?;
    write_atomic(&dir.join(format!("{kid}.pem")), pem_text.as_bytes(), 0o600)
}

/// Replaces `path` with `bytes` in one step.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = temp_path(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| KeyError::io(path, e))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

impl SigningAlg {
    /// The JOSE name, as written in state files and token headers.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDSA => "EdDSA",
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
        }
    }
}
