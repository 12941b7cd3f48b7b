//! Kept records packed back to back in chunks of bytes: what a history
//! holds in memory. A record in an `Arc` of its own, with its names and
//! text in their own `String`s, is three allocations and about 265 bytes
//! of heap beside a 64-byte line; packed, it is its bytes and a dozen
//! more, and a thousand lines are twenty allocations. Pure: records in,
//! records out.
//!
//! A record is its length, id, time and kind, then each of its strings
//! with its length; numbers are LEB128 varints (7 bits a byte), so an id
//! or a name's length is a byte or three. Records go into an open chunk;
//! a full one is sealed into an `Arc<[u8]>` that a block of kept lines
//! ([`PackedRecord`]s) shares while it waits for its reader, if it uses
//! most of it (see [`compact`]). Dropping the oldest record only moves a
//! start offset; a sealed chunk is freed once none of its records is kept
//! or shown.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use super::record::{Id, Kind, Millis, Record};

/// Records fill the open chunk up to this many bytes before it is sealed
/// (one bigger than this is a chunk of its own): a page, so a chunk's own
/// costs (its `Arc`, its place in the list) are a few bytes a record,
/// and the open chunk of a quiet room is small.
const CHUNK: usize = 4096;

/// The most bytes a record's packing adds to its strings: a varint each
/// for its length, id and time and each string's length, and its kind.
/// An id or a time takes at most 10 bytes; a length at most 4 (under
/// 2^28, far above a line's limit).
pub const PACKING_MOST: usize = 4 + 10 + 10 + 1 + 3 * 4;

// A record's weight covers its packing.
const _: () = assert!(PACKING_MOST <= super::record::RECORD_OVERHEAD);

/// Appends `n` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads packed bytes written by [`pack`]. Every read is checked, so a
/// slip in this module gives an empty string or a zero, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> u64 {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.at) else {
                return n;
            };
            self.at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        n
    }

    fn str(&mut self) -> &'a str {
        let len = usize::try_from(self.varint()).unwrap_or(usize::MAX);
        let end = self.at.saturating_add(len).min(self.bytes.len());
        let s = self.bytes.get(self.at..end).unwrap_or_default();
        self.at = end;
        std::str::from_utf8(s).unwrap_or_default()
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
}

/// The kinds as one byte.
const CHAT: u8 = 0;
const ACTION: u8 = 1;
const JOIN: u8 = 2;
const LEAVE: u8 = 3;
const RENAME: u8 = 4;
const PRIVATE: u8 = 5;

/// How many bytes `n` takes as a varint.
fn varint_len(n: u64) -> usize {
    (64 - n.leading_zeros() as usize).div_ceil(7).max(1)
}

/// A record's kind as a byte.
fn kind_byte(kind: &Kind) -> u8 {
    match kind {
        Kind::Chat { .. } => CHAT,
        Kind::Action { .. } => ACTION,
        Kind::Join { .. } => JOIN,
        Kind::Leave { .. } => LEAVE,
        Kind::Rename { .. } => RENAME,
        Kind::Private { .. } => PRIVATE,
    }
}

/// The bytes of `record` packed, its length not counted.
fn body_len(record: &Record) -> usize {
    let strings: usize = (record.kind.strings().iter().flatten())
        .map(|s| varint_len(s.len() as u64) + s.len())
        .sum();
    varint_len(record.id.get()) + varint_len(record.time) + 1 + strings
}

/// The bytes of a record packed whose body is `body` bytes.
fn packed_len(body: usize) -> usize {
    varint_len(body as u64) + body
}

/// Appends `record`, whose body is `body` bytes ([`body_len`]), packed:
/// its length, then the rest.
fn pack(record: &Record, body: usize, out: &mut Vec<u8>) {
    put_varint(out, body as u64);
    put_varint(out, record.id.get());
    put_varint(out, record.time);
    out.push(kind_byte(&record.kind));
    for s in record.kind.strings().iter().flatten() {
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

/// What a packed record's first fields say, without its strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub id: Id,
    pub time: Millis,
    kind: u8,
    /// Where the record's bytes end (its length included).
    end: usize,
    /// Where its strings start.
    strings: usize,
}

impl Head {
    /// Reads the head of the record at `at`.
    fn at(bytes: &[u8], at: usize) -> Head {
        let mut r = Reader { bytes, at };
        let len = usize::try_from(r.varint()).unwrap_or(usize::MAX);
        let end = r.at.saturating_add(len).min(bytes.len());
        let id = Id::new(r.varint());
        let time = r.varint();
        let kind = r.byte();
        Head {
            id,
            time,
            kind,
            end,
            strings: r.at,
        }
    }

    /// Whether everyone in the room saw it (everything but private ones).
    pub fn is_room(&self) -> bool {
        self.kind != PRIVATE
    }

    /// Whether a person said it to the room (chat or `/me`).
    pub fn is_said(&self) -> bool {
        matches!(self.kind, CHAT | ACTION)
    }

    /// A reader at the record's first string.
    fn strings<'a>(&self, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            bytes: bytes.get(..self.end).unwrap_or(bytes),
            at: self.strings,
        }
    }

    /// The record in full.
    fn record(&self, bytes: &[u8]) -> Record {
        let mut r = self.strings(bytes);
        let mut s = || r.str().to_owned();
        let kind = match self.kind {
            CHAT => Kind::Chat {
                from: s(),
                text: s(),
            },
            ACTION => Kind::Action {
                from: s(),
                text: s(),
            },
            JOIN => Kind::Join { from: s() },
            LEAVE => Kind::Leave { from: s() },
            RENAME => Kind::Rename {
                from: s(),
                new: s(),
            },
            _ => Kind::Private {
                from: s(),
                to: s(),
                text: s(),
            },
        };
        Record {
            id: self.id,
            time: self.time,
            kind,
        }
    }

    /// The record's weight ([`Record::weight`]), from its strings' lengths.
    fn weight(&self, bytes: &[u8]) -> usize {
        let mut r = self.strings(bytes);
        let mut strings = 0;
        while r.at < r.bytes.len() {
            strings += r.str().len();
        }
        super::record::RECORD_OVERHEAD + strings
    }
}

/// A kept record as a replay gives it: a place in a shared chunk. Cheap
/// to clone; [`PackedRecord::record`] unpacks it.
#[derive(Clone)]
pub struct PackedRecord {
    chunk: Arc<[u8]>,
    at: u32,
}

impl PackedRecord {
    fn head(&self) -> Head {
        Head::at(&self.chunk, self.at as usize)
    }

    /// Its packed bytes.
    fn bytes(&self) -> &[u8] {
        let end = self.head().end;
        self.chunk.get(self.at as usize..end).unwrap_or_default()
    }

    /// How many bytes it takes packed.
    fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Its id.
    pub fn id(&self) -> Id {
        self.head().id
    }

    /// When the server took it.
    pub fn time(&self) -> Millis {
        self.head().time
    }

    /// Whether everyone in its room saw it (it is not a private message).
    pub fn is_room(&self) -> bool {
        self.head().is_room()
    }

    /// The bytes it is counted as ([`Record::weight`]).
    pub fn weight(&self) -> usize {
        self.head().weight(&self.chunk)
    }

    /// The record, unpacked.
    pub fn record(&self) -> Record {
        self.head().record(&self.chunk)
    }
}

/// Keeps a block of kept records from holding much more memory than its
/// own records: where it uses less than half of a chunk's bytes, its
/// records of that chunk are copied out, all such records of the block
/// into one buffer. Otherwise a block waiting for a client that does not
/// read, one line of each of many chunks, would keep chunks the history
/// has long dropped, about 4 KiB each for a line charged at 100 bytes.
pub fn compact(records: Vec<PackedRecord>) -> Vec<PackedRecord> {
    use std::collections::HashMap;
    let key = |r: &PackedRecord| r.chunk.as_ptr() as usize;
    let mut used: HashMap<usize, usize> = HashMap::new();
    for r in &records {
        *used.entry(key(r)).or_default() += r.len();
    }
    let sparse = |r: &PackedRecord| 2 * used.get(&key(r)).copied().unwrap_or(0) < r.chunk.len();
    let copied: usize = records.iter().filter(|r| sparse(r)).map(|r| r.len()).sum();
    if copied == 0 {
        return records;
    }
    let mut bytes = Vec::with_capacity(copied);
    let mut at = Vec::with_capacity(records.len());
    for r in &records {
        at.push(bytes.len());
        if sparse(r) {
            bytes.extend_from_slice(r.bytes());
        }
    }
    let block: Arc<[u8]> = Arc::from(bytes);
    records
        .into_iter()
        .zip(at)
        .map(|(r, at)| match sparse(&r) {
            true => PackedRecord {
                chunk: Arc::clone(&block),
                at: u32::try_from(at).unwrap_or(u32::MAX),
            },
            false => r,
        })
        .collect()
}

impl From<&Record> for PackedRecord {
    fn from(record: &Record) -> PackedRecord {
        let body = body_len(record);
        let mut bytes = Vec::with_capacity(packed_len(body));
        pack(record, body, &mut bytes);
        PackedRecord {
            chunk: Arc::from(bytes),
            at: 0,
        }
    }
}

impl fmt::Debug for PackedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.record().fmt(f)
    }
}

impl PartialEq for PackedRecord {
    fn eq(&self, other: &PackedRecord) -> bool {
        self.record() == other.record()
    }
}

impl Eq for PackedRecord {}

/// A sealed chunk and which of its records are still kept.
#[derive(Debug)]
struct Part {
    bytes: Arc<[u8]>,
    /// Where the first kept record starts.
    start: usize,
    /// How many records from there are kept.
    count: usize,
}

/// Records in the order pushed, oldest first, packed.
#[derive(Debug, Default)]
pub struct Packed {
    sealed: VecDeque<Part>,
    /// The records after the sealed ones, from `open_start` on.
    open: Vec<u8>,
    open_start: usize,
    open_count: usize,
    len: usize,
}

/// One record met walking a [`Packed`].
#[derive(Clone, Copy)]
pub struct Slot<'a> {
    bytes: &'a [u8],
    /// Its sealed chunk, to share; None in the open chunk.
    shared: Option<&'a Arc<[u8]>>,
    pub head: Head,
    at: usize,
}

impl Slot<'_> {
    /// A handle on it that outlives the walk.
    pub fn kept(&self) -> PackedRecord {
        match self.shared {
            Some(chunk) => PackedRecord {
                chunk: Arc::clone(chunk),
                // Chunks are at most CHUNK bytes or one record long.
                at: u32::try_from(self.at).unwrap_or(u32::MAX),
            },
            None => PackedRecord {
                chunk: Arc::from(self.bytes.get(self.at..self.head.end).unwrap_or_default()),
                at: 0,
            },
        }
    }
}

impl Packed {
    /// Keeps `record` after the others.
    pub fn push(&mut self, record: &Record) {
        let body = body_len(record);
        let len = packed_len(body);
        if self.open_count > 0 && self.open.len() + len > CHUNK {
            self.seal();
        }
        // Doubling, but never past a chunk (a Vec's own doubling from the
        // first record's length would overshoot it, and a quiet private
        // list would hold more than it keeps).
        let need = self.open.len() + len;
        if need > self.open.capacity() {
            let grown = (2 * self.open.capacity()).clamp(need, CHUNK.max(need));
            self.open.reserve_exact(grown - self.open.len());
        }
        pack(record, body, &mut self.open);
        self.open_count += 1;
        self.len += 1;
    }

    /// Turns the open chunk's kept records into a sealed chunk.
    fn seal(&mut self) {
        let kept = self.open.get(self.open_start..).unwrap_or_default();
        self.sealed.push_back(Part {
            bytes: Arc::from(kept),
            start: 0,
            count: self.open_count,
        });
        self.open.clear();
        if self.open.capacity() > CHUNK {
            // After a record bigger than a chunk.
            self.open = Vec::new();
        }
        self.open_start = 0;
        self.open_count = 0;
    }

    /// After the open chunk's oldest record went: frees the chunk once
    /// nothing in it is kept (a list the bound on all private lists has
    /// emptied holds no buffer), and moves its kept records to the front
    /// once more than half of it is dropped ones.
    fn tidy_open(&mut self) {
        if self.open_count == 0 {
            self.open = Vec::new();
            self.open_start = 0;
        } else if 2 * self.open_start > self.open.len() {
            self.open.drain(..self.open_start);
            self.open_start = 0;
        }
    }

    /// Drops the oldest record; its head and weight, if one was kept.
    pub fn pop_front(&mut self) -> Option<(Head, usize)> {
        let (head, weight) = match self.sealed.front_mut() {
            Some(part) => {
                let head = Head::at(&part.bytes, part.start);
                let weight = head.weight(&part.bytes);
                part.start = head.end;
                part.count -= 1;
                if part.count == 0 {
                    self.sealed.pop_front();
                    if self.sealed.is_empty() {
                        self.sealed = VecDeque::new();
                    }
                }
                (head, weight)
            }
            None if self.open_count > 0 => {
                let head = Head::at(&self.open, self.open_start);
                let weight = head.weight(&self.open);
                self.open_start = head.end;
                self.open_count -= 1;
                self.tidy_open();
                (head, weight)
            }
            None => return None,
        };
        self.len -= 1;
        Some((head, weight))
    }

    /// The oldest record's head.
    pub fn front(&self) -> Option<Head> {
        self.iter().next().map(|slot| slot.head)
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes its chunks take (the open one by its capacity).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.open.capacity() + self.sealed.iter().map(|p| p.bytes.len()).sum::<usize>()
    }

    /// The records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Slot<'_>> {
        let sealed = self
            .sealed
            .iter()
            .map(|part| (&part.bytes[..], Some(&part.bytes), part.start, part.count));
        let open = (&self.open[..], None, self.open_start, self.open_count);
        sealed
            .chain(std::iter::once(open))
            .flat_map(|(bytes, shared, start, count)| {
                let mut at = start;
                (0..count).map(move |_| {
                    let head = Head::at(bytes, at);
                    let slot = Slot {
                        bytes,
                        shared,
                        head,
                        at,
                    };
                    at = head.end;
                    slot
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> String {
        text.to_string()
    }

    fn every_kind(id: u64) -> Vec<Record> {
        let kinds = [
            Kind::Chat {
                from: s("Ann"),
                text: s("hi ☃"),
            },
            Kind::Action {
                from: s("Ann"),
                text: s("waves"),
            },
            Kind::Join { from: s("Bob") },
            Kind::Leave { from: s("Bob") },
            Kind::Rename {
                from: s("Bob"),
                new: s("Rob"),
            },
            Kind::Private {
                from: s("Ann"),
                to: s("Rob"),
                text: s(""),
            },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Record {
                id: Id::new(id + i as u64),
                time: 1_764_583_200_123 + i as u64,
                kind,
            })
            .collect()
    }

    fn unpacked(packed: &Packed) -> Vec<Record> {
        packed.iter().map(|slot| slot.kept().record()).collect()
    }

    #[test]
    fn every_kind_comes_back_as_it_went_in_with_its_weight() {
        let mut packed = Packed::default();
        let records = every_kind(1);
        for record in &records {
            packed.push(record);
        }
        assert_eq!(unpacked(&packed), records);
        for record in &records {
            let (head, weight) = packed.pop_front().expect("kept");
            assert_eq!((head.id, head.time), (record.id, record.time));
            assert_eq!(weight, record.weight());
            assert_eq!(head.is_room(), record.kind.is_room());
            assert_eq!(head.is_said(), record.kind.is_said());
        }
        assert_eq!(packed.pop_front(), None);
        assert!(packed.is_empty());
    }

    #[test]
    fn a_record_packs_into_its_strings_and_at_most_the_fixed_share() {
        let record = Record {
            id: Id::new(u64::MAX),
            time: u64::MAX,
            kind: Kind::Private {
                from: s("a"),
                to: s("b"),
                text: "x".repeat((1 << 21) - 1),
            },
        };
        let mut bytes = Vec::new();
        pack(&record, body_len(&record), &mut bytes);
        assert!(bytes.len() <= record.weight());
        assert_eq!(bytes.len(), packed_len(body_len(&record)));
        let small = &every_kind(300)[0];
        bytes.clear();
        pack(small, body_len(small), &mut bytes);
        // Length, a 2-byte id, a 6-byte time, kind, two lengths.
        assert_eq!(bytes.len(), 1 + 2 + 6 + 1 + 2 + "Ann".len() + "hi ☃".len());
    }

    #[test]
    fn a_block_shares_a_sealed_chunk_and_keeps_it_after_the_history_drops_it() {
        let mut packed = Packed::default();
        let record = |id| Record {
            id: Id::new(id),
            time: 5,
            kind: Kind::Chat {
                from: s("Ann"),
                text: "t".repeat(100),
            },
        };
        for id in 1..=100 {
            packed.push(&record(id));
        }
        assert!(
            packed.sealed.len() >= 2,
            "100 lines of 100 bytes fill chunks"
        );
        let block: Vec<PackedRecord> = packed.iter().map(|slot| slot.kept()).collect();
        let first = Arc::clone(&packed.sealed[0].bytes);
        assert!(Arc::ptr_eq(&block[0].chunk, &first), "shared, not copied");
        while packed.pop_front().is_some() {}
        assert_eq!(packed.sealed.len(), 0);
        assert_eq!(block.iter().map(|k| k.id().get()).max(), Some(100));
        assert_eq!(block[0].record(), record(1));
    }

    #[test]
    fn a_record_bigger_than_a_chunk_is_kept_whole() {
        let mut packed = Packed::default();
        let big = Record {
            id: Id::new(1),
            time: 2,
            kind: Kind::Chat {
                from: s("Ann"),
                text: "b".repeat(3 * CHUNK),
            },
        };
        packed.push(&big);
        packed.push(&every_kind(2)[0]);
        assert_eq!(unpacked(&packed)[0], big);
        assert!(packed.open.capacity() <= CHUNK, "no big open chunk kept");
    }

    fn chat(id: u64, text: &str) -> Record {
        Record {
            id: Id::new(id),
            time: 5,
            kind: Kind::Chat {
                from: s("Ann"),
                text: text.to_string(),
            },
        }
    }

    #[test]
    fn a_list_holds_what_it_keeps_and_a_chunk_or_two_more_and_nothing_once_empty() {
        let mut packed = Packed::default();
        for id in 1..=2000 {
            packed.push(&chat(id, &"x".repeat(id as usize % 300)));
            while packed.len() > 7 {
                packed.pop_front();
            }
            let kept: usize = packed.iter().map(|slot| slot.kept().len()).sum();
            assert!(
                packed.held() <= kept + 2 * CHUNK,
                "{} for {kept}",
                packed.held()
            );
        }
        while packed.pop_front().is_some() {}
        assert_eq!(packed.held(), 0, "an emptied list keeps no buffer");
    }

    #[test]
    fn a_block_of_a_few_lines_of_many_chunks_copies_them_out_and_one_of_whole_chunks_shares() {
        let mut packed = Packed::default();
        for id in 1..=200 {
            packed.push(&chat(id, &"t".repeat(100)));
        }
        // One line of each sealed chunk: copied out, into one buffer.
        let firsts: Vec<PackedRecord> = packed
            .sealed
            .iter()
            .map(|part| PackedRecord {
                chunk: Arc::clone(&part.bytes),
                at: 0,
            })
            .collect();
        let ids: Vec<Id> = firsts.iter().map(PackedRecord::id).collect();
        let sparse = compact(firsts);
        assert_eq!(sparse.iter().map(PackedRecord::id).collect::<Vec<_>>(), ids);
        let one = &sparse[0].chunk;
        assert!(sparse.iter().all(|r| Arc::ptr_eq(&r.chunk, one)));
        assert_eq!(
            one.len(),
            sparse.iter().map(PackedRecord::len).sum::<usize>()
        );
        assert_eq!(sparse[1].record(), chat(ids[1].get(), &"t".repeat(100)));
        // Every line: the sealed chunks are shared as they are.
        let all: Vec<PackedRecord> = packed.iter().map(|slot| slot.kept()).collect();
        let dense = compact(all);
        assert!(Arc::ptr_eq(&dense[0].chunk, &packed.sealed[0].bytes));
    }

    proptest! {
        #[test]
        fn pushes_and_pops_keep_order_and_count(
            ops in proptest::collection::vec((any::<bool>(), 0usize..600), 0..300)
        ) {
            let mut packed = Packed::default();
            let mut model: VecDeque<Record> = VecDeque::new();
            let mut id = 0;
            for (push, size) in ops {
                if push {
                    id += 1;
                    let record = Record {
                        id: Id::new(id),
                        time: id * 7,
                        kind: Kind::Chat { from: s("Ann"), text: "é".repeat(size) },
                    };
                    packed.push(&record);
                    model.push_back(record);
                } else {
                    let got = packed.pop_front().map(|(h, w)| (h.id, w));
                    let want = model.pop_front().map(|r| (r.id, r.weight()));
                    prop_assert_eq!(got, want);
                }
                prop_assert_eq!(packed.len(), model.len());
            }
            prop_assert_eq!(unpacked(&packed), Vec::from(model));
        }
    }
}
