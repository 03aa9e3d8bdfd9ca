//! The hostile-archive suite: one test per rule, each trying to break it
//! and asserting the rule named, an empty job directory, nothing written
//! outside it, and (through `texjail inspect`) bounded memory.

use texjail::unpack::Limits;

use super::{reject, reject_with, Job};
use crate::support::archive::*;

const TEX: &[u8] = b"\\documentclass{article}\\begin{document}x\\end{document}\n";

#[test]
fn zip_slip_with_dot_dot_is_path_traversal() {
    for name in [
        "../evil.tex",
        "paper/../../evil.tex",
        "..",
        "paper/./main.tex",
        "a/..",
    ] {
        let zip = Zip::new()
            .file("paper/main.tex", TEX)
            .file(name, b"x")
            .build();
        let err = reject(&zip, "path_traversal");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn zip_slip_with_backslashes_is_rejected() {
    for name in ["..\\evil.tex", "paper\\..\\..\\evil.tex"] {
        reject(&Zip::new().file(name, b"x").build(), "path_traversal");
    }
    reject(
        &Zip::new().file("paper\\main.tex", TEX).build(),
        "backslash",
    );
}

#[test]
fn absolute_and_drive_letter_names_are_rejected() {
    let job = Job::new();
    let target = job.sandbox().join("absolute-escape.tex");
    let absolute = target.to_str().unwrap().to_string();
    for name in [
        absolute.as_str(),
        "/etc/cron.d/evil",
        "C:\\evil.tex",
        "c:evil.tex",
        "\\\\server\\share\\x",
    ] {
        reject(&Zip::new().file(name, b"x").build(), "absolute_path");
    }
    assert!(!target.exists(), "an absolute name was written");
    reject(&Tar::new().file(&absolute, b"x").build(), "absolute_path");
    assert!(!target.exists(), "an absolute tar name was written");
}

#[test]
fn symlink_entry_followed_by_a_file_inside_it_is_rejected() {
    let job = Job::new();
    let outside = job.sandbox().to_str().unwrap().to_string();
    let zip = Zip::new()
        .with(ZipEntry::symlink("paper/link", &outside))
        .file("paper/link/evil.tex", b"x")
        .build();
    let err = reject(&zip, "link_entry");
    assert!(err.to_string().contains("paper/link"), "{err}");
    // The same trick with the symlink written after the file that would
    // follow it, and with a relative target.
    let zip = Zip::new()
        .file("paper/main.tex", TEX)
        .with(ZipEntry::symlink("paper/up", "../.."))
        .file("paper/up/evil.tex", b"x")
        .build();
    reject(&zip, "link_entry");
    let tar = Tar::new()
        .entry(b"paper/link", TAR_SYMLINK, b"", 0o777, outside.as_bytes())
        .file("paper/link/evil.tex", b"x")
        .build_gz();
    reject(&tar, "link_entry");
    assert_eq!(std::fs::read_dir(job.sandbox()).unwrap().count(), 1);
}

#[test]
fn tar_links_and_devices_are_rejected() {
    let cases: [(u8, &str, &[u8]); 5] = [
        (TAR_SYMLINK, "link_entry", b"/etc/passwd"),
        (TAR_HARDLINK, "link_entry", b"/etc/passwd"),
        (TAR_CHAR, "special_file", b""),
        (TAR_BLOCK, "special_file", b""),
        (TAR_FIFO, "special_file", b""),
    ];
    for (kind, code, link) in cases {
        let tar = Tar::new()
            .file("paper/main.tex", TEX)
            .entry(b"paper/odd", kind, b"", 0o644, link)
            .build();
        reject(&tar, code);
        reject(&gzip(&tar), code);
    }
    let mut sparse = tar::Header::new_gnu();
    sparse.set_path("paper/holes").unwrap();
    sparse.set_entry_type(tar::EntryType::GNUSparse);
    sparse.set_size(1);
    // A sparse file of 1 GiB that is all hole but its last byte: a bomb
    // if expanded.
    let gnu = sparse.as_gnu_mut().unwrap();
    gnu.set_real_size(1 << 30);
    gnu.sparse[0].set_offset((1 << 30) - 1);
    gnu.sparse[0].set_length(1);
    sparse.set_cksum();
    reject(&Tar::new().header(sparse, b"x").build(), "special_file");
}

#[test]
fn zip_links_and_devices_are_rejected_by_their_mode_bits() {
    for (mode, code) in [
        (S_IFLNK | 0o777, "link_entry"),
        (S_IFIFO | 0o644, "special_file"),
        (S_IFCHR | 0o644, "special_file"),
        (0o060_644, "special_file"),
        (0o140_644, "special_file"),
    ] {
        let zip = Zip::new()
            .file("main.tex", TEX)
            .with(ZipEntry::file("odd", b"x").mode(mode).stored())
            .build();
        reject(&zip, code);
    }
}

#[test]
fn names_that_collide_after_normalisation_or_case_folding_are_duplicates() {
    let pairs: [(&str, &str); 6] = [
        ("main.tex", "main.tex"),
        ("Main.tex", "main.tex"),
        ("caf\u{e9}.tex", "cafe\u{301}.tex"),
        ("Figs/a.png", "figs/b.png"),
        ("stra\u{df}e.tex", "STRASSE.tex"),
        ("paper/x.tex", "paper/x.tex/y.tex"),
    ];
    for (a, b) in pairs {
        let zip = Zip::new().file(a, b"1").file(b, b"2").build();
        let err = reject(&zip, "duplicate_name");
        assert_eq!(err.entry(), Some(b), "{err}");
        let tar = Tar::new().file(a, b"1").file(b, b"2").build();
        reject(&tar, "duplicate_name");
    }
    // A file where a folder already is.
    let zip = Zip::new()
        .file("paper/x.tex", b"1")
        .file("paper", b"2")
        .build();
    reject(&zip, "duplicate_name");
}

#[test]
fn bad_names_are_rejected() {
    let long = "a".repeat(300);
    let deep = "d/".repeat(40) + "x.tex";
    let cases: [(&[u8], &str); 9] = [
        (b"nul\0.tex", "bad_name"),
        (b"line\nbreak.tex", "bad_name"),
        (b"bell\x07.tex", "bad_name"),
        (b"\xff\xfelatin.tex", "bad_name"),
        ("evil\u{202e}xet.sh".as_bytes(), "bad_name"),
        (b"a//b.tex", "bad_name"),
        (long.as_bytes(), "name_too_long"),
        (deep.as_bytes(), "too_deep"),
        (b"", "bad_name"),
    ];
    for (name, code) in cases {
        reject(&Zip::new().file(name, b"x").build(), code);
    }
    let limits = Limits {
        max_name_bytes: 20,
        ..Limits::default()
    };
    reject_with(
        &Zip::new().file("a-rather-long-file-name.tex", b"x").build(),
        &limits,
        "name_too_long",
    );
}

#[test]
fn fifield_overlapping_bomb_is_rejected_before_inflating() {
    // 250 entries sharing a 1 MB kernel: about 250 MB if extracted.
    let bomb = fifield_bomb(250, 1 << 20);
    assert!(bomb.len() < 64 * 1024, "the bomb is {} bytes", bomb.len());
    let err = reject(&bomb, "overlapping_entries");
    assert!(err.to_string().contains("f00001.tex"), "{err}");
}

#[test]
fn overlapping_entries_sharing_one_local_header_are_rejected() {
    // Two central records pointing at the same bytes, via a second name
    // whose local header is the first one's: caught as a mismatch or an
    // overlap, never extracted twice.
    let mut zip = Zip::new().file("a.tex", TEX).build();
    // Duplicate the central record of "a.tex" under the name "b.tex".
    let cd_start =
        u32::from_le_bytes(zip[zip.len() - 6..zip.len() - 2].try_into().unwrap()) as usize;
    let record_len = 46 + 5;
    let mut second = zip[cd_start..cd_start + record_len].to_vec();
    second[46..51].copy_from_slice(b"b.tex");
    let eocd = zip.split_off(cd_start + record_len);
    zip.extend(&second);
    let mut eocd = eocd;
    eocd[8..10].copy_from_slice(&2u16.to_le_bytes());
    eocd[10..12].copy_from_slice(&2u16.to_le_bytes());
    eocd[12..16].copy_from_slice(&((2 * record_len) as u32).to_le_bytes());
    zip.extend(eocd);
    reject(&zip, "header_mismatch");
}

#[test]
fn high_ratio_single_entry_bomb_is_rejected() {
    let zeros = vec![0u8; 16 << 20];
    let zip = Zip::new().file("zeros.tex", &zeros).build();
    assert!(zip.len() < 64 * 1024);
    reject(&zip, "ratio_exceeded");
}

#[test]
fn tar_gz_ratio_bomb_is_stopped_while_streaming() {
    let tar = Tar::new()
        .file("zeros.tex", &vec![0u8; 24 << 20])
        .build_gz();
    assert!(tar.len() < 128 * 1024);
    reject(&tar, "ratio_exceeded");
}

#[test]
fn oversized_long_name_and_pax_records_are_refused_before_buffering() {
    // Tar readers buffer a GNU long name ('L', 'K') or pax record ('x',
    // 'g') whole. 72 MiB of incompressible bytes would push the peak
    // memory `reject` checks past its bound if they were read.
    let mut seed = 7u64;
    let noise: Vec<u8> = (0..72 << 20)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 56) as u8 | 1
        })
        .collect();
    let tar = Tar::new()
        .entry(b"././@LongLink", b'L', &noise, 0o644, b"")
        .file("x.tex", b"x")
        .build();
    let err = reject(&tar, "corrupt");
    assert!(err.to_string().contains("long-name or pax record"), "{err}");
    for kind in [b'K', b'x', b'g'] {
        let tar = Tar::new()
            .entry(b"meta", kind, &noise[..1 << 20], 0o644, b"")
            .file("x.tex", b"x")
            .build();
        reject_with(&tar, &Limits::default(), "corrupt");
    }
    // Compressible, inside a gzip stream: refused at the header too.
    let tar = Tar::new()
        .entry(b"././@LongLink", b'L', &vec![b'a'; 24 << 20], 0o644, b"")
        .file("x.tex", b"x")
        .build_gz();
    reject(&tar, "corrupt");
}

#[test]
fn a_central_directory_that_lies_about_sizes_is_rejected() {
    // Central and local headers agree with each other but not the data.
    let mut zip = Zip::new()
        .file("main.tex", TEX)
        .file("b.tex", vec![b'x'; 100_000])
        .build();
    // Rewrite both headers' uncompressed size of b.tex to 1,000.
    let local = find(&zip, b"PK\x03\x04", 1);
    zip[local + 22..local + 26].copy_from_slice(&1000u32.to_le_bytes());
    let central = find(&zip, b"PK\x01\x02", 1);
    zip[central + 24..central + 28].copy_from_slice(&1000u32.to_le_bytes());
    let err = reject(&zip, "header_mismatch");
    assert!(err.to_string().contains("1000"), "{err}");
    // Central and local disagree.
    let mut lying = ZipEntry::file("b.tex", b"hello");
    lying.central_size = Some(4);
    reject(&Zip::new().with(lying).build(), "header_mismatch");
    // Local header names another file than the central directory.
    let mut renamed = ZipEntry::file("b.tex", b"hello");
    renamed.local_name = Some(b"../x.tex".to_vec());
    reject(&Zip::new().with(renamed).build(), "header_mismatch");
    // The end record counts fewer entries than the directory holds.
    let mut zip = Zip::new().file("a.tex", b"1").file("b.tex", b"2");
    zip.eocd_count = Some(1);
    reject(&zip.build(), "header_mismatch");
}

/// Offset of the `nth` (0-based) occurrence of `needle`.
fn find(haystack: &[u8], needle: &[u8], nth: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(nth)
        .map(|(i, _)| i)
        .expect("signature present")
}

#[test]
fn corrupt_data_is_rejected_and_earlier_files_removed() {
    // Three good files are written before the fourth fails its CRC check.
    let mut bad = ZipEntry::file("d.tex", b"good data").stored();
    bad.raw_data = Some(b"evil data".to_vec());
    let zip = Zip::new()
        .file("a.tex", TEX)
        .file("b.tex", TEX)
        .file("sub/c.tex", TEX)
        .with(bad)
        .build();
    reject(&zip, "corrupt");
    // Deflate data that is not a valid stream.
    let mut garbage = ZipEntry::file("e.tex", b"some text here");
    garbage.raw_data = Some(vec![0xff; 14]);
    reject(
        &Zip::new().file("a.tex", TEX).with(garbage).build(),
        "corrupt",
    );
}

#[test]
fn encrypted_entries_are_rejected() {
    let mut zipcrypto = ZipEntry::file("secret.tex", b"x");
    zipcrypto.flags = 1;
    reject(
        &Zip::new().file("a.tex", TEX).with(zipcrypto).build(),
        "encrypted",
    );
    let mut aes = ZipEntry::file("secret.tex", b"x");
    aes.method = Some(99);
    reject(&Zip::new().with(aes).build(), "encrypted");
    let mut strong = ZipEntry::file("secret.tex", b"x");
    strong.flags = 1 << 6;
    reject(&Zip::new().with(strong).build(), "encrypted");
}

#[test]
fn unknown_compression_methods_are_rejected() {
    let mut bzip2 = ZipEntry::file("a.tex", b"x");
    bzip2.method = Some(12);
    reject(&Zip::new().with(bzip2).build(), "unsupported_compression");
}

#[test]
fn a_hundred_thousand_tiny_entries_are_too_many() {
    let mut zip = Zip::new();
    for i in 0..100_000 {
        zip.entries
            .push(ZipEntry::file(format!("f{i}.tex"), b"x").stored());
    }
    let bytes = zip.build();
    let err = reject(&bytes, "too_many_entries");
    assert!(err.to_string().contains("10000"), "{err}");
    // Entries are counted as read, not as the end record claims.
    let mut tar = Tar::new();
    for i in 0..60 {
        tar = tar.file(&format!("f{i}.tex"), b"x");
    }
    let limits = Limits {
        max_entries: 50,
        ..Limits::default()
    };
    reject_with(&tar.build_gz(), &limits, "too_many_entries");
}

#[test]
fn size_limits_count_decompressed_bytes() {
    let limits = Limits {
        max_entry_bytes: 1000,
        max_total_bytes: 2500,
        ..Limits::default()
    };
    let big = vec![b'x'; 1001];
    let ok = vec![b'x'; 1000];
    reject_with(
        &Zip::new().file("big.tex", &big).build(),
        &limits,
        "entry_too_large",
    );
    reject_with(
        &Tar::new().file("big.tex", &big).build_gz(),
        &limits,
        "entry_too_large",
    );
    let three = Zip::new()
        .file("a", &ok)
        .file("b", &ok)
        .file("c", &ok)
        .build();
    reject_with(&three, &limits, "too_large");
    let three = Tar::new()
        .file("a", &ok)
        .file("b", &ok)
        .file("c", &ok)
        .build();
    reject_with(&three, &limits, "too_large");
    let limits = Limits {
        max_archive_bytes: 100,
        ..Limits::default()
    };
    let stored = Zip::new().with(ZipEntry::file("a", &ok).stored()).build();
    reject_with(&stored, &limits, "archive_too_large");
}

#[test]
fn truncated_archives_are_rejected() {
    let zip = Zip::new()
        .file("a.tex", TEX)
        .file("b.tex", vec![7u8; 5000])
        .build();
    reject(&zip[..zip.len() / 2], "truncated");
    reject(&zip[..zip.len() - 3], "truncated");
    let tar = Tar::new()
        .file("a.tex", TEX)
        .file("b.tex", &[7u8; 5000])
        .build();
    reject(&tar[..1536], "truncated"); // cut inside b.tex's data
    reject(&tar[..1024], "truncated"); // cut at an entry boundary
    reject(&gzip(&tar[..2000]), "truncated");
    let gz = gzip(&tar);
    reject(&gz[..gz.len() / 2], "truncated");
}

#[test]
fn things_that_are_not_archives_are_rejected() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend([0u8; 100]);
    reject(&png, "not_an_archive");
    reject(b"just some words, no TeX in sight\n", "not_an_archive");
    reject(
        &gzip(b"\\documentclass{article} but gzipped, not a tar"),
        "not_an_archive",
    );
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    reject(&random, "not_an_archive");
}

#[test]
fn empty_archives_are_rejected() {
    reject(b"", "empty_archive");
    reject(&Zip::new().build(), "empty_archive");
    reject(
        &Zip::new().with(ZipEntry::dir("paper/")).build(),
        "empty_archive",
    );
    reject(&Tar::new().build(), "empty_archive");
    reject(&Tar::new().build_gz(), "empty_archive");
    let dirs_only = Tar::new()
        .entry(b"paper/", TAR_DIR, b"", 0o755, b"")
        .build();
    reject(&dirs_only, "empty_archive");
}

#[test]
fn a_destination_that_is_not_empty_is_refused_and_left_alone() {
    let job = Job::new();
    std::fs::write(job.dest().join("keep.txt"), b"mine").unwrap();
    let err = job
        .unpack(&Zip::new().file("a.tex", TEX).build(), &Limits::default())
        .unwrap_err();
    assert_eq!(err.code(), "io");
    assert_eq!(std::fs::read(job.dest().join("keep.txt")).unwrap(), b"mine");
    assert!(!job.dest().join("a.tex").exists());
}

#[test]
fn tar_names_from_pax_and_gnu_long_name_records_are_judged_too() {
    let record = |value: &str| {
        let body = format!(" path={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}").into_bytes()
    };
    let tar = Tar::new()
        .entry(b"PaxHeaders/x", b'x', &record("../../evil.tex"), 0o644, b"")
        .file("harmless.tex", b"x")
        .build();
    reject(&tar, "path_traversal");
    let tar = Tar::new()
        .entry(b"././@LongLink", b'L', b"/etc/cron.d/evil\0", 0o644, b"")
        .file("harmless.tex", b"x")
        .build();
    reject(&tar, "absolute_path");
}

#[test]
fn a_data_descriptor_that_disagrees_is_rejected() {
    let mut lying = ZipEntry::file("main.tex", TEX);
    lying.descriptor = Some(Some(0xdead_beef));
    let err = reject(&Zip::new().with(lying).build(), "header_mismatch");
    assert!(err.to_string().contains("data descriptor"), "{err}");
}
