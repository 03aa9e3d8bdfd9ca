//! The project digest: sha256 over the canonical file tree, so the same
//! files give the same digest whatever the archive format, entry order,
//! timestamps or compression. It is the base of the cache key.
//!
//! Canonical form: a version tag, then for each file in byte order of its
//! path (relative to the project root): path length, path, size, content
//! sha256. Lengths make the encoding unambiguous. Folders without files do
//! not count: they carry no content.

use sha2::{Digest, Sha256};

use super::ProjectFile;

const TAG: &[u8] = b"texjail-project-v1\0";

/// Hex sha256 of the canonical tree. `files` may come in any order.
pub fn project_digest(files: &[ProjectFile]) -> String {
    let mut sorted: Vec<&ProjectFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut hasher = Sha256::new();
    hasher.update(TAG);
    hasher.update((sorted.len() as u64).to_le_bytes());
    for f in sorted {
        hasher.update((f.path.len() as u64).to_le_bytes());
        hasher.update(f.path.as_bytes());
        hasher.update(f.size.to_le_bytes());
        // A malformed hex string cannot occur (we produce them), but hash
        // the text itself rather than panic if one ever did.
        match hex::decode(&f.sha256) {
            Ok(raw) => hasher.update(raw),
            Err(_) => hasher.update(f.sha256.as_bytes()),
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> ProjectFile {
        ProjectFile {
            path: path.into(),
            size: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content)),
        }
    }

    #[test]
    fn order_does_not_matter_content_and_names_do() {
        let a = [file("a.tex", b"x"), file("b/c.tex", b"y")];
        let b = [file("b/c.tex", b"y"), file("a.tex", b"x")];
        assert_eq!(project_digest(&a), project_digest(&b));
        let c = [file("a.tex", b"x"), file("b/c.tex", b"z")];
        assert_ne!(project_digest(&a), project_digest(&c));
        let d = [file("a.tex", b"x"), file("b/d.tex", b"y")];
        assert_ne!(project_digest(&a), project_digest(&d));
    }
}
