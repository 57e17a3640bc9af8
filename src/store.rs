//! The data folder: `tailboard.sqlite` (WAL), `files/` (uploads and reference labels, each
//! stored once under its SHA-256), `tmp/` (uploads being received) and `cookie.key`.
//!
//! Files are written to `tmp/`, flushed to disk, then renamed into `files/ab/abcdef...`, so a
//! crash leaves either the whole file or nothing under `files/`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Paths inside one data folder.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Uses (and creates when missing) the folder `root`.
    pub fn open(root: &Path) -> io::Result<DataDir> {
        fs::create_dir_all(root.join("files"))?;
        fs::create_dir_all(root.join("tmp"))?;
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("tailboard.sqlite")
    }

    /// The cookie signing key.
    pub fn cookie_key(&self) -> PathBuf {
        self.root.join("cookie.key")
    }

    /// Takes the folder's server lock, so that a second server on the same folder refuses
    /// to start (it would re-queue the first one's running jobs). The OS releases the lock
    /// when the returned file is closed, also after a crash.
    pub fn lock_server(&self) -> io::Result<fs::File> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("server.lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::other(format!(
                "another tailboard server is already serving {}",
                self.root.display()
            ))),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// A fresh path for a file being received.
    pub fn temp_path(&self) -> PathBuf {
        let name: [u8; 12] = rand::random();
        self.root.join("tmp").join(hex::encode(name))
    }

    /// Where the file with this SHA-256 is stored.
    pub fn file_path(&self, sha256: &str) -> PathBuf {
        self.root.join("files").join(&sha256[..2]).join(sha256)
    }

    /// Moves a received temp file into the store under its SHA-256 (a no-op when the same
    /// content is already stored). The temp file is gone afterwards either way.
    pub fn adopt(&self, temp: &Path, sha256: &str) -> io::Result<PathBuf> {
        let dest = self.file_path(sha256);
        if dest.exists() {
            fs::remove_file(temp)?;
            return Ok(dest);
        }
        let dir = dest.parent().expect("file paths have a parent");
        fs::create_dir_all(dir)?;
        fs::File::open(temp)?.sync_all()?;
        fs::rename(temp, &dest)?;
        // The rename is durable only once the folder itself is flushed.
        fs::File::open(dir)?.sync_all()?;
        Ok(dest)
    }

    /// Stores bytes under their SHA-256 and returns the hash.
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let sha = sha256_hex(bytes);
        if !self.file_path(&sha).exists() {
            let temp = self.temp_path();
            let mut f = fs::File::create(&temp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            self.adopt(&temp, &sha)?;
        }
        Ok(sha)
    }

    /// Reads a stored file.
    pub fn get(&self, sha256: &str) -> io::Result<Vec<u8>> {
        fs::read(self.file_path(sha256))
    }

    /// Removes leftovers of uploads interrupted by a crash.
    pub fn clear_temp(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(())
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_per_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::open(dir.path()).unwrap();
        let lock = store.lock_server().unwrap();
        let err = store.lock_server().unwrap_err();
        assert!(
            err.to_string().contains("another tailboard server"),
            "{err}"
        );
        drop(lock);
        assert!(store.lock_server().is_ok());
    }

    #[test]
    fn same_content_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::open(dir.path()).unwrap();
        let a = store.put(b"dicom_id,Edema\n").unwrap();
        let b = store.put(b"dicom_id,Edema\n").unwrap();
        assert_eq!(a, b);
        assert_eq!(store.get(&a).unwrap(), b"dicom_id,Edema\n");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
