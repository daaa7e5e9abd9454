//! Verifying an NDJSON export: lines are read in chunks into reused
//! buffers; each chunk's lines are parsed and hashed on every core (each
//! record's link `SHA-256(prev || event)` depends only on its own line)
//! while the next chunk is read, and the results are checked in order by one
//! [`Verifier`]. Memory is bounded by two chunks, not the log.

use super::pruning::{PRUNING_KIND, Tombstone};
use super::verify::{EventHead, PruningEvent};
use super::{Fault, Hash, Report, SignedCheckpoint, Verifier, link, parse_hash};
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::BufRead;

/// Lines read, parsed and hashed per round. Small enough that the first
/// chunk (read before any hashing can start) is a small part of an export,
/// large enough that starting the hashing threads per chunk costs little:
/// 512 verified ~1.3 KiB events fastest of 512, 1024 and 4096 (BENCHMARKS.md).
const CHUNK: usize = 512;

/// An export line, borrowed: the event stays raw text. A tombstone line
/// carries `pruned` instead of `event`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    prev: &'a str,
    hash: &'a str,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(default)]
    pruned: Option<Tombstone>,
}

/// One line, parsed and hashed.
enum Prepared<'a> {
    Blank,
    Malformed(String),
    Event {
        head: EventHead<'a>,
        prev: Option<Hash>,
        hash: Option<Hash>,
        computed: Option<Hash>,
        pruning: Option<Result<PruningEvent, String>>,
    },
    Tombstone {
        prev: &'a str,
        hash: &'a str,
        tombstone: Tombstone,
    },
}

/// Splits a line written exactly as [`super::Record::to_line`] writes it,
/// `{"prev":"<64>","hash":"<64>","event":<event>}`, without scanning the
/// event; any other shape takes the general path.
fn split_exact(line: &str) -> Option<(&str, &str, &str)> {
    const PREV: &str = "{\"prev\":\"";
    const HASH: &str = "\",\"hash\":\"";
    const EVENT: &str = "\",\"event\":";
    let (p, h, e) = (
        PREV.len(),
        PREV.len() + 64 + HASH.len(),
        PREV.len() + 128 + HASH.len() + EVENT.len(),
    );
    if line.len() <= e + 1
        || !line.is_char_boundary(e)
        || !line.starts_with(PREV)
        || line.get(p + 64..h)? != HASH
        || line.get(h + 64..e)? != EVENT
        || !line.ends_with('}')
    {
        return None;
    }
    Some((
        line.get(p..p + 64)?,
        line.get(h..h + 64)?,
        line.get(e..line.len() - 1)?,
    ))
}

fn prepare(line: &str) -> Prepared<'_> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Prepared::Blank;
    }
    // The event is hashed as the exact bytes of the line (exports carry
    // canonical bytes); only its head is parsed out of it, in one scan.
    if let Some((prev, hash, text)) = split_exact(line) {
        return prepare_event(prev, hash, text);
    }
    let rec = match serde_json::from_str::<RawRecord>(line) {
        Ok(r) => r,
        Err(e) => return Prepared::Malformed(e.to_string()),
    };
    match (rec.event, rec.pruned) {
        (Some(event), None) => prepare_event(rec.prev, rec.hash, event.get()),
        (None, Some(tombstone)) => Prepared::Tombstone {
            prev: rec.prev,
            hash: rec.hash,
            tombstone,
        },
        _ => Prepared::Malformed("a record holds exactly one of `event` and `pruned`".to_owned()),
    }
}

fn prepare_event<'a>(prev_hex: &'a str, hash_hex: &'a str, text: &'a str) -> Prepared<'a> {
    let head = match EventHead::read(text) {
        Ok(h) => h,
        Err(e) => return Prepared::Malformed(e),
    };
    let pruning = (head.kind.as_deref() == Some(PRUNING_KIND)).then(|| {
        serde_json::from_str::<PruningEvent>(text).map_err(|e| format!("pruning event: {e}"))
    });
    let prev = parse_hash(prev_hex).ok();
    Prepared::Event {
        computed: prev.map(|p| link(&p, text.as_bytes())),
        head,
        prev,
        hash: parse_hash(hash_hex).ok(),
        pruning,
    }
}

fn apply(v: &mut Verifier, p: Prepared<'_>, line: u64) -> Result<(), Fault> {
    let malformed = |message: String| Fault::Malformed { line, message };
    match p {
        Prepared::Blank => Ok(()),
        Prepared::Malformed(m) => Err(malformed(m)),
        Prepared::Tombstone {
            prev,
            hash,
            tombstone,
        } => v.push_tombstone(prev, hash, &tombstone),
        Prepared::Event {
            head,
            prev,
            hash,
            computed,
            pruning,
        } => {
            v.push_hashed(&head.tenant, head.seq, prev, hash, computed)?;
            match pruning {
                None => Ok(()),
                Some(Ok(p)) => {
                    v.note_pruning(head.seq, p.body);
                    Ok(())
                }
                Some(Err(m)) => Err(malformed(m)),
            }
        }
    }
}

/// Verifies an NDJSON export (one [`super::Record`] per line, as
/// [`super::Record::to_line`] writes it, tombstones as
/// [`super::tombstone_line`]) of `tenant`'s log, optionally against a signed
/// checkpoint. Each event is hashed as the exact bytes of its line, so an
/// export must carry them canonically.
pub fn verify_ndjson(
    reader: impl BufRead,
    tenant: &str,
    checkpoint: Option<(&SignedCheckpoint, &VerifyingKey)>,
) -> Report {
    match checkpoint {
        Some((cp, key)) => verify_ndjson_held(reader, tenant, std::slice::from_ref(cp), Some(key)),
        None => verify_ndjson_held(reader, tenant, &[], None),
    }
}

/// [`verify_ndjson`] held to any number of signed checkpoints (an anchor
/// file), all signed by `key`. Memory grows with the checkpoints and one
/// chunk of lines, not with the log.
pub fn verify_ndjson_held(
    mut reader: impl BufRead,
    tenant: &str,
    checkpoints: &[SignedCheckpoint],
    key: Option<&VerifyingKey>,
) -> Report {
    let mut v = Verifier::new(tenant);
    if let Err(f) = v.expect_all(checkpoints, key) {
        return v.finish(Some(f));
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // Two sets of reused line buffers: the next chunk is read while the
    // current one is parsed and hashed on every core.
    let mut current: Vec<String> = vec![String::new(); CHUNK];
    let mut next: Vec<String> = vec![String::new(); CHUNK];
    let (mut filled, mut read_error) = read_chunk(&mut reader, &mut current);
    let mut line_no = 0u64;
    loop {
        let chunk = &current[..filled];
        let more = filled == CHUNK && read_error.is_none();
        let (prepared, (next_filled, next_error)) = std::thread::scope(|s| {
            let per = filled.div_ceil(workers).max(1);
            let parts: Vec<_> = chunk
                .chunks(per)
                .map(|part| s.spawn(move || part.iter().map(|l| prepare(l)).collect::<Vec<_>>()))
                .collect();
            let read = if more {
                read_chunk(&mut reader, &mut next)
            } else {
                (0, None)
            };
            let mut out: Vec<Prepared> = Vec::with_capacity(filled);
            for p in parts {
                match p.join() {
                    Ok(mut v) => out.append(&mut v),
                    // A worker cannot panic on any input; if it did, the
                    // rest of the chunk is reported as unreadable.
                    Err(_) => out.push(Prepared::Malformed(
                        "the verifier failed on this line".to_owned(),
                    )),
                }
            }
            (out, read)
        });
        for p in prepared {
            line_no += 1;
            if let Err(f) = apply(&mut v, p, line_no) {
                return v.finish(Some(f));
            }
        }
        if let Some(message) = read_error {
            return v.finish(Some(Fault::Malformed {
                line: line_no + 1,
                message,
            }));
        }
        if !more {
            return v.finish(None);
        }
        std::mem::swap(&mut current, &mut next);
        (filled, read_error) = (next_filled, next_error);
    }
}

/// Reads up to a chunk of lines into the reused buffers: how many, and the
/// read error that stopped it, if one did.
fn read_chunk(reader: &mut impl BufRead, lines: &mut [String]) -> (usize, Option<String>) {
    let mut filled = 0;
    while filled < lines.len() {
        let buf = &mut lines[filled];
        buf.clear();
        match reader.read_line(buf) {
            Ok(0) => break,
            Ok(_) => filled += 1,
            Err(e) => return (filled, Some(e.to_string())),
        }
    }
    (filled, None)
}
