//! Reading whole input files for the scoring program.
//!
//! A Task-1 submission is about 70 MB of text that is parsed once. Reading it into a fresh
//! buffer makes the kernel zero 70 MB of new pages and then copy the file into them, about a
//! fifth of a plain scoring run. On Linux the file is therefore mapped read-only straight
//! from the page cache instead (populated up front, so no page faults while parsing).
//!
//! Why a mapping is sound here: the scoring program reads files that the platform unpacked
//! for this run and nothing else writes to them while it runs; the mapping is private and
//! read-only. Should a file be truncated underneath anyway, the process would stop with
//! SIGBUS instead of scoring garbage. When mapping is not possible (an empty file, another
//! system, a file system that refuses), the file is read into memory as before.

use std::io::Read;
use std::ops::Deref;
use std::path::Path;

/// The whole content of a file, mapped or read.
pub struct FileBytes(Inner);

enum Inner {
    #[cfg(target_os = "linux")]
    Mapped {
        ptr: *const u8,
        len: usize,
    },
    Read(Vec<u8>),
}

// SAFETY: a private read-only mapping is plain immutable memory owned by this value; it is
// unmapped only in `drop`, so sharing or moving it across threads is like sharing a `&[u8]`.
unsafe impl Send for FileBytes {}
// SAFETY: see `Send`; nothing mutates the mapping.
unsafe impl Sync for FileBytes {}

impl FileBytes {
    /// Reads (or maps) the file at `path`, whose size is about `len` bytes.
    pub fn read(path: &Path, len: u64) -> std::io::Result<FileBytes> {
        let mut file = std::fs::File::open(path)?;
        #[cfg(target_os = "linux")]
        if let Some(mapped) = map(&file)? {
            return Ok(mapped);
        }
        let mut bytes = Vec::with_capacity(len as usize + 1);
        ask_for_huge_pages(&mut bytes);
        file.read_to_end(&mut bytes)?;
        Ok(FileBytes(Inner::Read(bytes)))
    }

    /// True when the bytes are a memory map of the file rather than a copy.
    pub fn is_mapped(&self) -> bool {
        !matches!(self.0, Inner::Read(_))
    }
}

/// Maps the whole of `file` read-only, or `None` when it cannot be mapped (empty, not a
/// regular file, or the kernel said no).
#[cfg(target_os = "linux")]
fn map(file: &std::fs::File) -> std::io::Result<Option<FileBytes>> {
    use std::os::fd::AsRawFd;
    let meta = file.metadata()?;
    let Ok(len) = usize::try_from(meta.len()) else {
        return Ok(None);
    };
    if !meta.is_file() || len == 0 {
        return Ok(None);
    }
    // SAFETY: a fresh private read-only mapping of an open file; the result is checked
    // before use and the mapping is owned by the returned value (unmapped in `drop`).
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Ok(None);
    }
    Ok(Some(FileBytes(Inner::Mapped {
        ptr: ptr as *const u8,
        len,
    })))
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            #[cfg(target_os = "linux")]
            // SAFETY: `ptr..ptr + len` is the live read-only mapping made in `map`.
            Inner::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Inner::Read(bytes) => bytes,
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Inner::Mapped { ptr, len } = self.0 {
            // SAFETY: the mapping made in `map`, unmapped once; no slice of it outlives
            // `self` (they borrow it).
            unsafe {
                libc::munmap(ptr as *mut libc::c_void, len);
            }
        }
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileBytes({} bytes, {})",
            self.len(),
            if self.is_mapped() { "mapped" } else { "read" }
        )
    }
}

/// Asks Linux to back a large empty buffer with 2 MB pages: filling a 70 MB buffer page by
/// page costs ~17,000 page faults. Only a hint: the kernel may refuse, and other systems
/// ignore it.
fn ask_for_huge_pages(buffer: &mut Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buffer.as_mut_ptr() as usize;
        let end = start + buffer.capacity();
        let first = start.next_multiple_of(HUGE);
        let last = end / HUGE * HUGE;
        if last > first {
            // SAFETY: the range lies inside the buffer's own allocation; MADV_HUGEPAGE only
            // changes how the kernel backs those pages, never their contents.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_read_files_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let text: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&path, &text).unwrap();
        let bytes = FileBytes::read(&path, text.len() as u64).unwrap();
        assert_eq!(&bytes[..], &text[..]);
        #[cfg(target_os = "linux")]
        assert!(bytes.is_mapped());
        // Empty files cannot be mapped: they are read (as nothing).
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, b"").unwrap();
        let none = FileBytes::read(&empty, 0).unwrap();
        assert!(none.is_empty() && !none.is_mapped());
    }
}
