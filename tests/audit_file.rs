//! The tamper-evident audit file: every kind of tampering is named at its first bad record,
//! rotation keeps the chain, and the layer records real decisions without their tokens.
#![cfg(all(feature = "audit-file", feature = "testing"))]

use std::fs;
use std::path::{Path, PathBuf};

use a2a_guard::audit_file::{
    ANCHOR_TARGET, AuditFileLayer, BadRecord, ChainKey, ChainWriter, CheckpointKey, Head, Tamper,
    Verifier, VerifyError, chain_files, verify,
};
use aws_lc_rs::digest;
use serde_json::{Value, json};
use tempfile::TempDir;

fn event(i: u64) -> Value {
    json!({"decision": "allow", "reason": "ok", "status": 200, "route": "/data", "sub": "user-7", "i": i})
}

/// A chain of `n` events after the `start` record: line k holds seq k - 1.
fn write_chain(dir: &TempDir, n: u64, key: Option<&ChainKey>) -> (PathBuf, Head) {
    let path = dir.path().join("audit.jsonl");
    let mut b = ChainWriter::builder(&path);
    if let Some(k) = key {
        b = b.key(k.clone());
    }
    let mut w = b.open().unwrap();
    for i in 0..n {
        w.append(&event(i)).unwrap();
    }
    let head = w.head();
    drop(w);
    (path, head)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(path, s).unwrap();
}

fn bad(r: Result<a2a_guard::audit_file::VerifySummary, VerifyError>) -> BadRecord {
    match r {
        Err(VerifyError::Bad(b)) => b,
        other => panic!("expected a bad record, got {other:?}"),
    }
}

fn at(b: &BadRecord) -> (u64, u64, Tamper) {
    (b.line, b.expected_seq, b.kind.clone())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an attacker who can write the file does to an unkeyed chain: edits record `from`'s
/// body and recomputes every hash after it, following the format in the module docs.
fn rechain(lines: &mut [String], from: usize, edit: impl Fn(&str) -> String) {
    let mut prev: Option<String> = None;
    for (i, line) in lines.iter_mut().enumerate().skip(from) {
        let (body, _) = line.rsplit_once(",\"hash\":\"").unwrap();
        let mut body = body.to_owned();
        if i == from {
            body = edit(&body);
        }
        if let Some(p) = &prev {
            let start = body.find("\"prev\":\"").unwrap() + 8;
            body.replace_range(start..start + 64, p);
        }
        let h = hex(digest::digest(&digest::SHA256, body.as_bytes()).as_ref());
        *line = format!("{body},\"hash\":\"{h}\"}}");
        prev = Some(h);
    }
}

#[test]
fn an_untouched_file_of_100_000_records_verifies() {
    let dir = TempDir::new().unwrap();
    let (path, head) = write_chain(&dir, 100_000, None);
    let s = verify(&[&path]).unwrap();
    assert_eq!(s.records, 100_001, "the start record and 100 000 events");
    assert_eq!(s.last, Some(head));
    assert_eq!(s.first.unwrap().seq, 0);
    // The head anchors the whole file.
    Verifier::new().anchor(head).verify(&[&path]).unwrap();
}

#[test]
fn every_changed_byte_is_named_at_its_record() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 60, None);
    let original = fs::read(&path).unwrap();
    let line_start = original
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(38)
        .unwrap()
        .0
        + 1;
    let line_end = line_start
        + original[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap();
    // Every byte of line 40 (seq 39), each changed on its own, in one bit: seq, ts, prev,
    // event, hash, the JSON punctuation.
    for i in line_start..line_end {
        let mut bytes = original.clone();
        bytes[i] ^= if bytes[i] == b'"' { 0x01 } else { 0x20 };
        if bytes[i] == b'\n' {
            bytes[i] = b'x';
        }
        fs::write(&path, &bytes).unwrap();
        let b = bad(verify(&[&path]));
        assert_eq!(
            (b.line, b.expected_seq),
            (40, 39),
            "byte {} of the line",
            i - line_start
        );
        assert!(
            matches!(b.kind, Tamper::Altered | Tamper::Malformed),
            "{:?}",
            b.kind
        );
    }
    fs::write(&path, &original).unwrap();
    verify(&[&path]).unwrap();
    // A changed value is "altered" (not merely malformed): the record parses, its hash fails.
    let mut l = lines(&path);
    l[39] = l[39].replace("\"allow\"", "\"deny!\"");
    write_lines(&path, &l);
    assert_eq!(at(&bad(verify(&[&path]))), (40, 39, Tamper::Altered));
}

#[test]
fn a_deleted_record_is_named() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 100, None);
    let mut l = lines(&path);
    l.remove(49); // seq 49
    write_lines(&path, &l);
    assert_eq!(
        at(&bad(verify(&[&path]))),
        (50, 49, Tamper::Gap { found: 50 })
    );
}

#[test]
fn a_replaced_record_is_named_where_the_link_breaks() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 100, None);
    let mut l = lines(&path);
    // Record 50 rewritten with its own hash recomputed, the records after it untouched.
    rechain(&mut l[..51], 50, |b| b.replace("user-7", "user-8"));
    write_lines(&path, &l);
    assert_eq!(at(&bad(verify(&[&path]))), (52, 51, Tamper::BrokenLink));
}

#[test]
fn swapped_records_are_named() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 100, None);
    let mut l = lines(&path);
    l.swap(29, 30); // seq 29 and 30
    write_lines(&path, &l);
    assert_eq!(
        at(&bad(verify(&[&path]))),
        (30, 29, Tamper::Gap { found: 30 })
    );
}

#[test]
fn inserted_records_are_named() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 100, None);
    let original = lines(&path);

    // A copied line pasted in again.
    let mut l = original.clone();
    l.insert(20, l[19].clone());
    write_lines(&path, &l);
    assert_eq!(
        at(&bad(verify(&[&path]))),
        (21, 20, Tamper::Behind { found: 19 })
    );

    // A hand-written record without a valid hash.
    let mut l = original.clone();
    l.insert(20, l[20].replace("user-7", "user-8"));
    write_lines(&path, &l);
    assert_eq!(at(&bad(verify(&[&path]))), (21, 20, Tamper::Altered));

    // A record forged with a recomputed hash, linked to its predecessor: the unkeyed chain
    // notices at the next record, whose seq is now behind.
    let mut l = original.clone();
    l.insert(20, l[20].clone());
    rechain(&mut l[..21], 20, |b| b.replace("user-7", "user-8"));
    write_lines(&path, &l);
    assert_eq!(
        at(&bad(verify(&[&path]))),
        (22, 21, Tamper::Behind { found: 20 })
    );
}

#[test]
fn a_keyed_chain_names_a_forged_record_itself() {
    let dir = TempDir::new().unwrap();
    let key = ChainKey::generate();
    let (path, _) = write_chain(&dir, 100, Some(&key));
    let v = Verifier::new().key(&key);
    v.verify(&[&path]).unwrap();
    let original = lines(&path);

    let mut l = original.clone();
    l.insert(20, l[20].clone());
    rechain(&mut l[..21], 20, |b| b.replace("user-7", "user-8"));
    write_lines(&path, &l);
    assert_eq!(at(&bad(v.verify(&[&path]))), (21, 20, Tamper::Altered));

    // An edit re-chained to the end verifies unkeyed, never under the key.
    let mut l = original.clone();
    rechain(&mut l, 10, |b| b.replace("\"allow\"", "\"deny\""));
    write_lines(&path, &l);
    assert_eq!(at(&bad(v.verify(&[&path]))), (11, 10, Tamper::Altered));

    // Without its key, the verifier says so rather than "altered".
    write_lines(&path, &original);
    let b = bad(verify(&[&path]));
    assert_eq!(
        at(&b),
        (
            1,
            0,
            Tamper::WrongMode {
                written: "hmac-sha256".into()
            }
        )
    );
    // Another key: altered.
    let other = Verifier::new().key(&ChainKey::generate());
    assert_eq!(at(&bad(other.verify(&[&path]))), (1, 0, Tamper::Altered));
    // A keyed verifier never suggests dropping the key: an unkeyed file is "altered".
    let dir2 = TempDir::new().unwrap();
    let (unkeyed, _) = write_chain(&dir2, 3, None);
    assert_eq!(at(&bad(v.verify(&[&unkeyed]))), (1, 0, Tamper::Altered));
}

#[test]
fn an_unkeyed_chain_can_be_recomputed_and_an_anchor_catches_it() {
    let dir = TempDir::new().unwrap();
    let (path, head) = write_chain(&dir, 100, None);
    let mut l = lines(&path);
    rechain(&mut l, 10, |b| b.replace("\"allow\"", "\"deny\""));
    write_lines(&path, &l);
    // The documented limit: anyone can recompute an unkeyed chain.
    verify(&[&path]).unwrap();
    // A head published elsewhere before the edit catches it.
    let b = bad(Verifier::new().anchor(head).verify(&[&path]));
    assert_eq!(at(&b), (101, 100, Tamper::AnchorMismatch { anchor: head }));
}

#[test]
fn truncation_mid_line_is_named() {
    let dir = TempDir::new().unwrap();
    let (path, _) = write_chain(&dir, 100, None);
    let bytes = fs::read(&path).unwrap();
    // Inside the last record.
    fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert_eq!(at(&bad(verify(&[&path]))), (101, 100, Tamper::Partial));
    // Inside record 40: everything after it gone too.
    let start = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(38)
        .unwrap()
        .0
        + 1;
    fs::write(&path, &bytes[..start + 30]).unwrap();
    assert_eq!(at(&bad(verify(&[&path]))), (40, 39, Tamper::Partial));
    // A missing final newline alone is a partial record too.
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(at(&bad(verify(&[&path]))), (101, 100, Tamper::Partial));
}

#[test]
fn a_cut_off_tail_is_found_only_with_an_anchor() {
    let dir = TempDir::new().unwrap();
    let (path, head) = write_chain(&dir, 100, None);
    let mut l = lines(&path);
    l.truncate(91); // seq 0..=90 kept
    write_lines(&path, &l);
    // The documented limit: whole records removed from the end leave a valid chain.
    assert_eq!(verify(&[&path]).unwrap().last.unwrap().seq, 90);
    let b = bad(Verifier::new().anchor(head).verify(&[&path]));
    assert_eq!(at(&b), (92, 91, Tamper::Truncated { anchor: head }));
    // An empty file is a cut-off tail too.
    fs::write(&path, "").unwrap();
    let b = bad(Verifier::new().anchor(head).verify(&[&path]));
    assert_eq!(at(&b), (1, 0, Tamper::Truncated { anchor: head }));
}

#[test]
fn rotation_keeps_the_chain_across_files() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut w = ChainWriter::builder(&path).rotate_at(8192).open().unwrap();
    for i in 0..500 {
        w.append(&event(i)).unwrap();
    }
    let head = w.head();
    drop(w);
    let files = chain_files(&path).unwrap();
    assert!(files.len() > 5, "{files:?}");
    assert_eq!(files.last().unwrap(), &path);
    for f in &files {
        assert!(fs::metadata(f).unwrap().len() <= 8192, "{f:?}");
    }
    // Each rotated file is named for its first record.
    let second_first_seq: u64 = files[1]
        .extension()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let first_lines = lines(&files[0]).len() as u64;
    assert_eq!(second_first_seq, first_lines);
    let s = Verifier::new().anchor(head).verify(&files).unwrap();
    assert_eq!((s.records, s.files, s.last), (501, files.len(), Some(head)));

    // Files out of order.
    let mut swapped = files.clone();
    swapped.swap(1, 2);
    let b = bad(verify(&swapped));
    assert_eq!((b.file.clone(), b.line), (files[2].clone(), 1));
    assert!(matches!(b.kind, Tamper::Gap { .. }), "{:?}", b.kind);

    // A middle file deleted.
    let first_seq = |f: &Path| -> u64 { f.extension().unwrap().to_str().unwrap().parse().unwrap() };
    fs::remove_file(&files[2]).unwrap();
    let remaining = chain_files(&path).unwrap();
    let b = bad(verify(&remaining));
    assert_eq!(
        (b.file.clone(), b.line, b.expected_seq),
        (files[3].clone(), 1, first_seq(&files[2]))
    );
    assert_eq!(
        b.kind,
        Tamper::Gap {
            found: first_seq(&files[3])
        }
    );

    // The oldest file deleted by retention: the start is missing, unless the verifier is told
    // where the kept files begin.
    let dir2 = TempDir::new().unwrap();
    for f in &files[..] {
        if f.exists() {
            fs::copy(f, dir2.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    let l0 = lines(&files[0]);
    let last0: Value = serde_json::from_str(l0.last().unwrap()).unwrap();
    let last0 = format!("{}:{}", last0["seq"], last0["hash"].as_str().unwrap())
        .parse::<Head>()
        .unwrap();
    fs::remove_file(&files[0]).unwrap();
    let b = bad(verify(&[&files[1]]));
    assert_eq!(
        at(&b),
        (
            1,
            0,
            Tamper::MissingStart {
                found: second_first_seq
            }
        )
    );
    Verifier::new()
        .start_after(last0)
        .verify(&[&files[1]])
        .unwrap();
    Verifier::new().any_start().verify(&[&files[1]]).unwrap();
}

#[test]
fn reopening_continues_the_chain_and_refuses_what_would_fork_it() {
    let dir = TempDir::new().unwrap();
    let key = ChainKey::generate();
    let (path, _) = write_chain(&dir, 10, Some(&key));
    let mut w = ChainWriter::builder(&path).key(key.clone()).open().unwrap();
    assert_eq!(w.head().seq, 11, "the resume record follows seq 10");
    w.append(&event(99)).unwrap();
    drop(w);
    let l = lines(&path);
    assert!(
        l[11].contains(r#""event":{"audit_file":"resume","mode":"hmac-sha256"}"#),
        "{}",
        l[11]
    );
    assert_eq!(
        Verifier::new().key(&key).verify(&[&path]).unwrap().records,
        13
    );

    // Another key, or none: refused at open, nothing written.
    let before = fs::read(&path).unwrap();
    let e = ChainWriter::builder(&path)
        .key(ChainKey::generate())
        .open()
        .unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    assert!(ChainWriter::open(&path).is_err());
    assert_eq!(fs::read(&path).unwrap(), before);

    // A partial last line: refused, the file left as it is.
    fs::write(&path, &before[..before.len() - 5]).unwrap();
    let e = ChainWriter::builder(&path)
        .key(key.clone())
        .open()
        .unwrap_err();
    assert!(e.to_string().contains("ends inside a record"), "{e}");

    // After rotation, with the active file gone: continues from the newest rotated file.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut w = ChainWriter::builder(&path).rotate_at(2048).open().unwrap();
    for i in 0..50 {
        w.append(&event(i)).unwrap();
    }
    let head = w.head();
    drop(w);
    // A crash right after a rotation leaves an empty active file: the chain continues from
    // the newest rotated one.
    let rotated = dir
        .path()
        .join(format!("audit.jsonl.{:020}", w_first_seq(&path)));
    fs::rename(&path, &rotated).unwrap();
    fs::write(&path, "").unwrap();
    let w = ChainWriter::builder(&path).rotate_at(2048).open().unwrap();
    assert_eq!(w.head().seq, head.seq + 1);
    drop(w);
    let files = chain_files(&path).unwrap();
    Verifier::new().anchor(head).verify(&files).unwrap();
    let head = Verifier::new().verify(&files).unwrap().last.unwrap();
    let removed_from = lines(&path)[0].clone();
    fs::remove_file(&path).unwrap();
    let mut w = ChainWriter::builder(&path).rotate_at(2048).open().unwrap();
    w.append(&event(50)).unwrap();
    drop(w);
    // The newest records deleted, then a restart: the chain continues from the newest
    // rotated file, which is the same as a cut-off tail, visible only with an anchor...
    let files = chain_files(&path).unwrap();
    verify(&files).unwrap();
    let b = bad(Verifier::new().anchor(head).verify(&files));
    assert_eq!(b.kind, Tamper::AnchorMismatch { anchor: head });
    // ...and as a `resume` record where the deleted records were.
    let resumed: Value = serde_json::from_str(&lines(&path)[0]).unwrap();
    let removed_from: Value = serde_json::from_str(&removed_from).unwrap();
    assert_eq!(resumed["seq"], removed_from["seq"]);
    assert_eq!(resumed["event"]["audit_file"], "resume");
}

fn w_first_seq(path: &Path) -> u64 {
    let first: Value = serde_json::from_str(&lines(path)[0]).unwrap();
    first["seq"].as_u64().unwrap()
}

#[test]
fn signed_checkpoints_verify_with_the_public_key_alone() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.jsonl");
    let signer = CheckpointKey::generate();
    let public = signer.public_key();
    assert_eq!(
        public
            .to_string()
            .parse::<a2a_guard::audit_file::CheckpointPublicKey>()
            .unwrap(),
        public
    );
    let mut w = ChainWriter::builder(&path)
        .sign_checkpoints(signer, 10)
        .open()
        .unwrap();
    for i in 0..95 {
        w.append(&event(i)).unwrap();
    }
    let last_event = w.head();
    drop(w); // signs the last records
    let original = lines(&path);
    let is_checkpoint =
        |l: &String| l.contains(r#""event":{"audit_file":"checkpoint","alg":"Ed25519","sig":""#);
    // After every 10 records (the start record counts), and one at drop.
    assert_eq!(original.iter().filter(|l| is_checkpoint(l)).count(), 10);
    assert!(is_checkpoint(&original[10]) && is_checkpoint(original.last().unwrap()));
    let v = Verifier::new().checkpoint_key(public).require_signed();
    let s = v.verify(&[&path]).unwrap();
    assert_eq!((s.records, s.signed), (106, Some(last_event)));

    // An edit re-chained to the end: the hash chain holds, the next checkpoint does not.
    let mut l = original.clone();
    rechain(&mut l, 15, |b| b.replace("\"allow\"", "\"deny\""));
    write_lines(&path, &l);
    verify(&[&path]).unwrap();
    let next_checkpoint = 15 + l[15..].iter().position(is_checkpoint).unwrap() as u64;
    assert_eq!(
        at(&bad(v.verify(&[&path]))),
        (next_checkpoint + 1, next_checkpoint, Tamper::BadSignature)
    );

    // ... and with the checkpoints after the edit deleted too, the records they covered are
    // unsigned.
    let mut l: Vec<String> = original
        .iter()
        .enumerate()
        .filter(|(i, l)| *i <= 15 || !is_checkpoint(l))
        .map(|(_, l)| l.clone())
        .collect();
    // Renumbered and re-chained: the attacker controls every byte of an unkeyed chain.
    for (i, line) in l.iter_mut().enumerate() {
        *line = format!("{{\"seq\":{i},{}", line.split_once(',').unwrap().1);
    }
    rechain(&mut l, 11, |b| b.to_owned());
    rechain(&mut l, 15, |b| b.replace("\"allow\"", "\"deny\""));
    write_lines(&path, &l);
    verify(&[&path]).unwrap();
    assert!(
        Verifier::new()
            .checkpoint_key(public)
            .verify(&[&path])
            .is_ok(),
        "without require_signed, an unsigned tail passes"
    );
    assert_eq!(at(&bad(v.verify(&[&path]))), (12, 11, Tamper::Unsigned));

    // Another key.
    write_lines(&path, &original);
    let other = Verifier::new().checkpoint_key(CheckpointKey::generate().public_key());
    assert_eq!(
        at(&bad(other.verify(&[&path]))),
        (11, 10, Tamper::BadSignature)
    );
    // A cut after an unsigned record.
    write_lines(&path, &original[..original.len() - 3]);
    let b = bad(v.verify(&[&path]));
    assert_eq!(
        (b.kind.clone(), b.line),
        (Tamper::Unsigned, original.len() as u64 - 6)
    );
    // require_signed without a key: nothing is signed.
    write_lines(&path, &original);
    assert_eq!(
        at(&bad(Verifier::new().require_signed().verify(&[&path]))),
        (1, 0, Tamper::Unsigned)
    );
}

#[test]
fn every_rotated_file_ends_signed_and_verifies_alone() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.jsonl");
    let signer = CheckpointKey::generate();
    let public = signer.public_key();
    let mut w = ChainWriter::builder(&path)
        .rotate_at(4096)
        .sign_checkpoints(signer, 0) // only at rotation and close
        .open()
        .unwrap();
    for i in 0..200 {
        w.append(&event(i)).unwrap();
    }
    drop(w);
    let files = chain_files(&path).unwrap();
    assert!(files.len() > 5, "{files:?}");
    let signed = Verifier::new().checkpoint_key(public).require_signed();
    signed.verify(&files).unwrap();
    for f in &files {
        let l = lines(f);
        assert!(
            l.last().unwrap().contains(r#""audit_file":"checkpoint""#),
            "{f:?}"
        );
        assert!(
            fs::metadata(f).unwrap().len() <= 4096 + 400,
            "{f:?}: one checkpoint past the limit at most"
        );
        signed.clone().any_start().verify(&[f]).unwrap();
    }
    // One checkpoint per file, none elsewhere.
    let checkpoints: usize = files
        .iter()
        .map(|f| lines(f).iter().filter(|l| l.contains("checkpoint")).count())
        .sum();
    assert_eq!(checkpoints, files.len());
}

#[cfg(unix)]
#[test]
fn a_second_writer_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut first = ChainWriter::builder(&path).rotate_at(1024).open().unwrap();
    let e = ChainWriter::open(&path).unwrap_err();
    assert!(e.to_string().contains("another writer"), "{e}");
    // The new file a rotation opens is locked too.
    for i in 0..20 {
        first.append(&event(i)).unwrap();
    }
    assert!(chain_files(&path).unwrap().len() > 1);
    assert!(ChainWriter::open(&path).is_err());
    drop(first);
    ChainWriter::open(&path).unwrap();
    verify(&chain_files(&path).unwrap()).unwrap();
}

#[test]
fn key_files_must_be_private() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("audit.key");
    let key = ChainKey::generate();
    key.write_new(&path).unwrap();
    assert!(key.write_new(&path).is_err(), "never overwritten");
    ChainKey::from_file(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(ChainKey::from_file(&path).is_err());
    }
}

mod layer {
    use super::*;
    use a2a_guard::testing::TestIssuer;
    use a2a_guard::{RequireScopes, Validator};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::Request;
    use tower::ServiceExt;
    use tracing_subscriber::prelude::*;

    fn records(path: &Path) -> Vec<Value> {
        lines(path)
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_real_decision_is_recorded_without_its_token() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let key = ChainKey::generate();
        let writer = ChainWriter::builder(&path).key(key.clone()).open().unwrap();
        let (layer, guard) = AuditFileLayer::spawn(writer).unwrap();
        let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

        let issuer = TestIssuer::start().await.unwrap();
        let v = Validator::builder()
            .issuer_jwks(issuer.issuer(), issuer.jwks_url())
            .audience(issuer.audience())
            .build()
            .await
            .unwrap();
        let app = Router::new()
            .route(
                "/data",
                get(|| async { "ok" }).route_layer(RequireScopes::all(["read:data"])),
            )
            .layer(v.layer());
        let token = issuer.token().subject("user-7").scope("read:data").sign();
        let call = |t: Option<String>| {
            let app = app.clone();
            async move {
                let mut r = Request::builder().uri("/data?q=1");
                if let Some(t) = t {
                    r = r.header("authorization", format!("Bearer {t}"));
                }
                app.oneshot(r.body(Body::empty()).unwrap())
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(call(Some(token.clone())).await, 200);
        assert_eq!(call(Some(format!("{token}x"))).await, 401);
        tracing::info!(target: "a2a_guard::keys", "not an audit event");
        tracing::info!(target: "a2a_guard::client", "not recorded unless asked for");
        let head = guard.flush().unwrap();

        let recs = records(&path);
        assert_eq!(recs.len() as u64, head.seq + 1);
        assert_eq!(recs[0]["audit_file"], "start");
        let audit: Vec<&Value> = recs
            .iter()
            .filter(|r| r["target"] == "a2a_guard::audit")
            .collect();
        assert_eq!(audit.len(), 2, "{recs:#?}");
        assert_eq!(recs.len(), 3, "only audit events: {recs:#?}");
        let allow = audit[0];
        assert_eq!(
            (allow["decision"].as_str(), allow["status"].as_u64()),
            (Some("allow"), Some(200))
        );
        assert_eq!(
            (allow["sub"].as_str(), allow["route"].as_str()),
            (Some("user-7"), Some("/data"))
        );
        assert_eq!(
            (allow["level"].as_str(), allow["message"].as_str()),
            (Some("INFO"), Some("authorization decision"))
        );
        assert_eq!(
            (audit[1]["decision"].as_str(), audit[1]["status"].as_u64()),
            (Some("deny"), Some(401))
        );
        let file = fs::read_to_string(&path).unwrap();
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !file.contains(&token) && !file.contains(signature),
            "no token in the file"
        );
        assert!(!file.contains("q=1"), "no query string");

        drop(guard);
        let s = Verifier::new()
            .key(&key)
            .anchor(head)
            .verify(&[&path])
            .unwrap();
        assert_eq!(s.records, 3);
    }

    #[test]
    fn extra_targets_are_recorded_when_asked_for() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (layer, guard) = AuditFileLayer::builder()
            .target("a2a_guard::client")
            // Even when asked for: the writer thread's own anchor events would feed it itself
            // (and, with a blocking queue, wait on it).
            .target(ANCHOR_TARGET)
            .spawn(ChainWriter::open(&path).unwrap())
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!(target: "a2a_guard::client", grant = "client_credentials", ok = true, "issued");
            tracing::info!(target: "a2a_guard::audit_file", "an anchor event is never recorded");
        });
        guard.flush().unwrap();
        let recs = records(&path);
        assert_eq!(recs.len(), 2, "{recs:#?}");
        assert_eq!(
            (recs[1]["grant"].as_str(), recs[1]["ok"].as_bool()),
            (Some("client_credentials"), Some(true))
        );
    }

    /// Anchor events seen by the process-wide subscriber: (file, "seq:hash").
    static ANCHORS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

    struct CaptureAnchors;

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureAnchors {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() != ANCHOR_TARGET {
                return;
            }
            let mut fields = serde_json::Map::new();
            struct V<'a>(&'a mut serde_json::Map<String, Value>);
            impl tracing::field::Visit for V<'_> {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    self.0.insert(f.name().into(), format!("{v:?}").into());
                }
                fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
                    self.0.insert(f.name().into(), v.to_string().into());
                }
            }
            event.record(&mut V(&mut fields));
            let at = format!(
                "{}:{}",
                fields["seq"].as_str().unwrap(),
                fields["hash"].as_str().unwrap()
            );
            ANCHORS
                .lock()
                .unwrap()
                .push((fields["file"].as_str().unwrap().to_owned(), at));
        }
    }

    #[test]
    fn anchor_events_go_to_another_sink_and_anchor_the_chain() {
        // The writer thread has no thread-local subscriber: its anchor events reach the global one,
        // as they would in a service.
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CaptureAnchors),
        );
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let signer = CheckpointKey::generate();
        let public = signer.public_key();
        let writer = ChainWriter::builder(&path)
            .sign_checkpoints(signer, 0)
            .open()
            .unwrap();
        let (layer, guard) = AuditFileLayer::builder()
            .anchor_every(10)
            .block_when_full()
            .spawn(writer)
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..25u64 {
                tracing::info!(target: "a2a_guard::audit", decision = "allow", i, "authorization decision");
            }
        });
        let head = guard.flush().unwrap();
        drop(guard);
        let file = path.display().to_string();
        let mine: Vec<Head> = ANCHORS
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| *f == file)
            .map(|(_, h)| h.parse().unwrap())
            .collect();
        // Every 10 records (the start record is the writer's, not the layer's), and at
        // shutdown after the last signed checkpoint (seq 26), which the anchor then covers.
        assert_eq!(
            mine.iter().map(|h| h.seq).collect::<Vec<_>>(),
            [10, 20, 26],
            "{mine:?}"
        );
        assert_eq!(head.seq, 25);
        let head = *mine.last().unwrap();
        assert!(lines(&path)[26].contains(r#""audit_file":"checkpoint""#));
        let mut v = Verifier::new().checkpoint_key(public).require_signed();
        for h in &mine {
            v = v.anchor(*h);
        }
        v.verify(&[&path]).unwrap();
        // The last anchor catches the loss of the records after the one before it.
        let mut l = lines(&path);
        l.truncate(21);
        write_lines(&path, &l);
        let b = bad(Verifier::new().anchor(head).verify(&[&path]));
        assert_eq!(b.kind, Tamper::Truncated { anchor: head });
    }

    /// Emits `n` audit events as fast as possible into a one-slot queue.
    fn flood(path: &Path, n: u64, block: bool) -> Vec<Value> {
        let mut b = AuditFileLayer::builder().capacity(1);
        if block {
            b = b.block_when_full();
        }
        let (layer, guard) = b.spawn(ChainWriter::open(path).unwrap()).unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..n {
                tracing::warn!(target: "a2a_guard::audit", decision = "deny", i, "authorization decision");
            }
        });
        drop(guard);
        verify(&[path]).unwrap();
        records(path)
    }

    #[test]
    fn a_full_queue_drops_records_and_records_the_gap() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let recs = flood(&path, 20_000, false);
        let written = recs.iter().filter(|r| r["decision"] == "deny").count() as u64;
        let dropped: u64 = recs
            .iter()
            .filter(|r| r["audit_file"] == "dropped")
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            written + dropped,
            20_000,
            "every event is either written or counted"
        );
        assert!(
            dropped > 0,
            "a one-slot queue cannot keep up with 20 000 events"
        );
    }

    #[test]
    fn a_blocking_layer_never_drops() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let recs = flood(&path, 2_000, true);
        assert_eq!(
            recs.iter().filter(|r| r["decision"] == "deny").count(),
            2_000
        );
        assert!(!recs.iter().any(|r| r["audit_file"] == "dropped"));
    }
}

/// The writer's sustained rate. `cargo test --release --features audit-file,testing --test
/// audit_file -- --ignored --nocapture writer_throughput`
#[test]
#[ignore = "a measurement, not a check"]
fn writer_throughput() {
    let dir = TempDir::new().unwrap();
    let key = ChainKey::generate();
    for keyed in [false, true] {
        let path = dir.path().join(format!("audit-{keyed}.jsonl"));
        let mut b = ChainWriter::builder(&path).rotate_at(64 << 20);
        if keyed {
            b = b.key(key.clone());
        }
        let mut w = b.open().unwrap();
        let n = 1_000_000u64;
        let mut fields = serde_json::Map::new();
        for (k, v) in event(0).as_object().unwrap() {
            fields.insert(k.clone(), v.clone());
        }
        let t = std::time::Instant::now();
        for i in 0..n {
            fields.insert("i".into(), i.into());
            w.append(&fields).unwrap();
        }
        w.sync().unwrap();
        let write = t.elapsed();
        let files = chain_files(&path).unwrap();
        let t = std::time::Instant::now();
        let mut v = Verifier::new();
        if keyed {
            v = v.key(&key);
        }
        v.verify(&files).unwrap();
        let check = t.elapsed();
        let bytes: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
        println!(
            "{}: write {:.0} records/s ({:.0} MB/s), verify {:.0} records/s, {} bytes/record",
            if keyed { "hmac-sha256" } else { "sha256" },
            n as f64 / write.as_secs_f64(),
            bytes as f64 / write.as_secs_f64() / 1e6,
            n as f64 / check.as_secs_f64(),
            bytes / n
        );
    }
    // End to end: `tracing` event → layer → queue → writer thread → file, never dropping.
    use tracing_subscriber::prelude::*;
    let path = dir.path().join("audit-layer.jsonl");
    let writer = ChainWriter::builder(&path).key(key.clone()).open().unwrap();
    let (layer, guard) = AuditFileLayer::builder()
        .block_when_full()
        .spawn(writer)
        .unwrap();
    let n = 500_000u64;
    let t = std::time::Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..n {
            tracing::info!(target: "a2a_guard::audit", decision = "allow", reason = "ok", status = 200u64,
                method = "GET", route = "/data", path = "/data", iss = "https://issuer.example",
                sub = "user-7", client_id = "agent-test", jti = "0123456789abcdef0123456789abcdef",
                scopes = "read:data", required = "read:data", actors = "", i, "authorization decision");
        }
    });
    drop(guard);
    let bytes = fs::metadata(&path).unwrap().len();
    println!(
        "layer (hmac-sha256, blocking queue): {:.0} audit events/s, {} bytes/record",
        n as f64 / t.elapsed().as_secs_f64(),
        bytes / n
    );
}
