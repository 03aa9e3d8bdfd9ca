//! Mutated archives: whatever the bytes, no panic, a verdict, and nothing
//! written outside the job directory (and nothing left when rejected).

use proptest::prelude::*;
use texjail::unpack::Limits;

use super::Job;
use crate::support::archive::*;

fn seeds() -> Vec<Vec<u8>> {
    let tex = b"\\documentclass{article}\\begin{document}x\\end{document}\n".repeat(8);
    let zip = Zip::new()
        .with(ZipEntry::dir("paper/"))
        .file("paper/main.tex", &tex)
        .with(ZipEntry::file("paper/b.tex", b"stored").stored())
        .build();
    let tar = Tar::new()
        .entry(b"paper/", TAR_DIR, b"", 0o755, b"")
        .file("paper/main.tex", &tex)
        .file("paper/b.tex", b"bbb")
        .build();
    vec![zip, gzip(&tar), tar, fifield_bomb(4, 4096)]
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Overwrite a little-endian u32 (sizes, offsets, counts).
    Word(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (
            any::<usize>(),
            prop_oneof![Just(0u32), Just(u32::MAX), Just(0xFFFF), any::<u32>()]
        )
            .prop_map(|(i, w)| Mutation::Word(i, w)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match m {
            Mutation::Set(i, b) => bytes[i % len] = *b,
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Insert(i, v) => {
                let at = i % len;
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::Word(i, w) => {
                let at = i % len;
                let end = (at + 4).min(len);
                bytes[at..end].copy_from_slice(&w.to_le_bytes()[..end - at]);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_archives_never_escape(seed in 0usize..4, mutations in proptest::collection::vec(mutation(), 1..6)) {
        let bytes = apply(seeds()[seed].clone(), &mutations);
        let job = Job::new();
        let limits = Limits { max_total_bytes: 1 << 20, ..Limits::default() };
        match job.unpack(&bytes, &limits) {
            Ok(project) => {
                prop_assert!(project.root.starts_with(job.dest()));
                prop_assert!(!project.files.is_empty());
            }
            Err(e) => {
                prop_assert!(!e.code().is_empty());
                job.assert_empty();
            }
        }
        job.assert_contained();
    }
}
