//! Block summaries: what a block of [`BLOCK`] consecutive seqs may hold,
//! so that a filter on a rare severity, facility, hostname, app-name or
//! unit passes over a block without reading one of its messages; and each
//! message's [`Tags`], so that within the blocks read a filter on a name
//! passes over the messages of other names without reading them either.
//!
//! For each block the ring keeps a [`Summary`]: the severities and the
//! facilities of its messages, as bit sets, and a 512-bit Bloom filter of
//! their hostnames, app-names and units (two bits per field and value, an
//! absent field hashed as such: [`NameBits`]). A message without an index
//! sets every bit. It is kept at ingest, in O(1) per message and without
//! allocating: the table is sized when the ring is made ([`Summaries`]).
//!
//! A summary is conservative: it may say a block holds what it does not
//! (a hash shared by two names; an evicted message, whose bits stay until
//! its block's slot serves a later block), never the reverse. So a reader
//! passes over a block whose summary a filter rules out
//! ([`crate::query::Filter::rules_out`]) and reads every other one as it
//! would without summaries: the answer is the same, only the blocks read
//! differ. A block without a summary (none was kept for it, as in a
//! snapshot, or its slot now serves another block) is read. A clear
//! forgets them all.
//!
//! Why 64 seqs a block: a summary (80 bytes with its block number) then
//! costs a byte and a quarter per message, a quarter of the seq tables; a
//! query over a million messages looks at 15,625 summaries, some tens of
//! microseconds; and a value found in fewer than one message in a hundred
//! or so leaves most blocks out. Smaller blocks skip more of a value that
//! is merely uncommon but cost more memory and more looks for the rare
//! one; larger ones fill the bits of names (a block of 64 syslog messages
//! holds some tens of distinct names: a sixth of the bits are set, and a
//! name it does not hold is taken for one it does about one block in
//! forty).
//!
//! Tags are a byte of each name's hash per message (three bytes beside
//! the PRI table's one): `app=sshd`, a tenth of the messages, is counted
//! by reading a byte of each message and the records of a tenth, not by
//! searching the arena for the text.
//!
//! A tag is a byte: other names share it. So for each field and tag the
//! ring also keeps whether the held messages with that tag all have one
//! name, and since which seq ([`Sole`], 768 entries that point into the
//! arena and hold no byte of a name): at ingest a message's name is
//! compared with the newest one's of its tag. While `sshd` alone has its
//! tag, `GET /histogram?app=sshd` counts its messages on the tags table
//! without reading one ([`crate::query::Filter::exact_sieve`]); when
//! another name shares the tag, they are read, as above.
//!
//! None of this is in the memory file: a ring adopted after a restart
//! rebuilds it from the records it adopts. A snapshot keeps none of it,
//! and its readers read every message, as before.

use crate::store::messages::Messages;
use crate::store::ring::Seq;

/// Seqs `b * BLOCK .. (b + 1) * BLOCK` are block `b`.
pub const BLOCK: u64 = 1 << BLOCK_SHIFT;
const BLOCK_SHIFT: u32 = 6;

/// The block that holds `seq`.
pub fn block_of(seq: Seq) -> u64 {
    seq.get() >> BLOCK_SHIFT
}

/// The first seq of block `block`.
fn block_start(block: u64) -> Seq {
    Seq::new(block << BLOCK_SHIFT)
}

/// The fields whose values a summary holds the hashes of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Host = 1,
    App = 2,
    Unit = 3,
}

/// A set of (field, value) pairs, as two bits of [`NAME_BITS`] per pair
/// (a Bloom filter): a set that lacks either bit of a pair does not hold
/// it.
///
/// A block of 64 syslog messages holds some tens of pairs (a central
/// host's holds some tens of hostnames alone). Two bits of 512 then keep
/// a value a block does not hold from being taken for one it does to a
/// few blocks in a hundred; with one bit, a value whose bit were that of
/// a common one (one value in ten) would be in every block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameBits([u64; WORDS]);

/// The bits of a [`NameBits`].
pub const NAME_BITS: usize = 512;
const WORDS: usize = NAME_BITS / 64;

impl NameBits {
    /// No pair.
    pub const NONE: NameBits = NameBits([0; WORDS]);
    /// Every pair there is.
    pub const ALL: NameBits = NameBits([u64::MAX; WORDS]);

    /// The set of `field` with the value `name` (`None`: without one).
    pub fn of(field: Field, name: Option<&[u8]>) -> NameBits {
        let mut bits = NameBits::NONE;
        bits.insert(field, name);
        bits
    }

    /// Adds `field` with the value `name`.
    pub fn insert(&mut self, field: Field, name: Option<&[u8]>) {
        self.insert_hash(hash(field, name));
    }

    fn insert_hash(&mut self, h: u64) {
        let bits = NAME_BITS.trailing_zeros();
        for at in [bits, 2 * bits] {
            let bit = (h >> (64 - at)) as usize % NAME_BITS;
            self.0[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether `held` may hold the pair this is the set of (every bit of
    /// this is in it).
    pub fn within(&self, held: &NameBits) -> bool {
        self.0.iter().zip(&held.0).all(|(a, b)| a & !b == 0)
    }
}

/// The hash of `field` with the value `name`, whose top bits say which
/// two bits of a [`NameBits`] it sets, and the byte below them its
/// [`Tags`] byte: a multiplicative hash over 8 bytes at a time. Names are
/// short (an app-name, a hostname, a unit), so this is a few
/// multiplications; the last bytes are read as whole words that overlap
/// the ones before, not copied.
fn hash(field: Field, name: Option<&[u8]>) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (field as u64).wrapping_mul(K);
    match name {
        // Not the hash of any length: an absent field is not an empty one.
        None => h = (h ^ u64::MAX).wrapping_mul(K),
        Some(name) => {
            let n = name.len();
            let mut rest = name;
            // The words before the last, which is read below.
            while let Some((eight, tail)) = rest.split_first_chunk::<8>().filter(|_| rest.len() > 8)
            {
                h = (h ^ u64::from_le_bytes(*eight))
                    .wrapping_mul(K)
                    .rotate_left(31);
                rest = tail;
            }
            let word = |b: Option<&[u8; 4]>| u64::from(b.map_or(0, |b| u32::from_le_bytes(*b)));
            let last = match (name.last_chunk::<8>(), n) {
                (Some(eight), _) => u64::from_le_bytes(*eight),
                (None, 4..) => word(name.first_chunk()) | word(name.last_chunk()) << 32,
                (None, 1..) => {
                    u64::from(name[0]) | u64::from(name[n / 2]) << 8 | u64::from(name[n - 1]) << 16
                }
                (None, 0) => 0,
            };
            h = (h ^ last ^ ((n as u64) << 56)).wrapping_mul(K);
        }
    }
    h ^= h >> 29;
    h.wrapping_mul(K)
}

/// The [`Tags`] byte of a hash: below the bits [`NameBits`] takes.
fn tag_of(h: u64) -> u8 {
    (h >> 32) as u8
}

/// A byte of the hash of a message's hostname, app-name and unit, kept
/// per seq beside the PRI table: a reader filtering on one of them passes
/// over a message whose byte is not the one of a name it wants without
/// reading the message (one in 256 that is not one of them has the byte
/// all the same, and is read). A message without an index has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tags([u8; 3]);

impl Tags {
    /// The byte of `field` with the value `name` (`None`: without one).
    pub fn tag(field: Field, name: Option<&[u8]>) -> u8 {
        tag_of(hash(field, name))
    }

    /// The byte of the message's `field`.
    pub fn get(&self, field: Field) -> u8 {
        self.0[field as usize - 1]
    }
}

/// What a filter lets through on a message's PRI and [`Tags`] alone, as
/// bit sets a reader tests with no call per message: a message it does not
/// pass is not selected; one it passes may be, and is read. Made once per
/// reading slice by [`crate::query::Filter::sieve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sieve {
    /// The PRIs that pass.
    pris: Bits,
    /// Per field (at `field as usize - 1`, as in [`Tags`]), the tag bytes
    /// that pass; every byte for a field the filter does not name.
    tags: [Bits; 3],
}

impl Sieve {
    /// Passes every message.
    pub const ALL: Sieve = Sieve {
        pris: Bits::ALL,
        tags: [Bits::ALL; 3],
    };

    /// Only the PRIs `passes` says yes to (of the 256 a byte holds).
    pub fn pris(mut self, passes: impl Fn(u8) -> bool) -> Sieve {
        self.pris = Bits::of((0..=u8::MAX).filter(|&p| passes(p)));
        self
    }

    /// Only the messages whose tag of `field` is one of `tags`.
    pub fn tags(mut self, field: Field, tags: impl IntoIterator<Item = u8>) -> Sieve {
        self.tags[field as usize - 1] = Bits::of(tags.into_iter());
        self
    }

    /// Whether a message of PRI `pri` and tags `tags` may be selected
    /// (`tags` is `None` when the source keeps none: any passes).
    pub fn passes(&self, pri: u8, tags: Option<&Tags>) -> bool {
        match tags {
            Some(tags) => self.passes_tagged(pri, tags),
            None => self.pris.has(pri),
        }
    }

    /// [`Sieve::passes`] of a message with tags: four bit tests and no
    /// branch between them, for the loops that pass over many.
    #[inline]
    pub fn passes_tagged(&self, pri: u8, tags: &Tags) -> bool {
        let [host, app, unit] = tags.0;
        self.pris.has(pri) & self.tags[0].has(host) & self.tags[1].has(app) & self.tags[2].has(unit)
    }
}

/// A set of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits([u64; 4]);

impl Bits {
    const ALL: Bits = Bits([u64::MAX; 4]);

    fn of(bytes: impl Iterator<Item = u8>) -> Bits {
        let mut bits = [0u64; 4];
        for b in bytes {
            bits[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        Bits(bits)
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 == 1
    }
}

/// What the messages of a block may hold. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Bit `s` when a message of severity `s` may be in the block.
    pub severities: u8,
    /// Bit `f` when a message of facility `f` may be in the block.
    pub facilities: u32,
    /// The hostnames, app-names and units (or their absence) of its
    /// messages.
    pub names: NameBits,
}

impl Summary {
    /// Of no message.
    pub const EMPTY: Summary = Summary {
        severities: 0,
        facilities: 0,
        names: NameBits::NONE,
    };
    /// Of a block that may hold anything.
    pub const ANY: Summary = Summary {
        severities: u8::MAX,
        facilities: u32::MAX,
        names: NameBits::ALL,
    };
}

/// One slot of [`Summaries`]: the block it describes now, and what it may
/// hold.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// [`NO_BLOCK`] while the slot describes none.
    block: u64,
    summary: Summary,
}

/// No block is this one: a seq is below 2^62.
const NO_BLOCK: u64 = u64::MAX;

const EMPTY_SLOT: Slot = Slot {
    block: NO_BLOCK,
    summary: Summary::EMPTY,
};

/// The summaries of the blocks a ring of `max_messages` holds, and the
/// [`Tags`] of each message, in tables allocated once.
pub struct Summaries {
    /// Block `b` is in slot `b % slots.len()`. INVARIANT: the length is a
    /// power of two. Made for a ring of `max_messages`, it is above the
    /// number of blocks any `max_messages` consecutive seqs touch, so that
    /// a block's slot is taken by a later block only once every message
    /// of it is evicted. (A smaller table is still correct, only less
    /// useful: a block whose slot a later one took has no summary, and is
    /// read.)
    slots: Box<[Slot]>,
    /// The tags of seq `s` are at `s % max_messages`, as the ring's seq
    /// tables (empty when they could not be allocated).
    tags: Box<[Tags]>,
    /// Per field and tag byte (at `(field - 1) * 256 + tag`), whether one
    /// name alone has that tag ([`Sole`]); empty with `tags`.
    soles: Box<[Sole]>,
}

/// Whether the held messages whose tag of a field is one byte all have
/// the same name, so that a reader counting a name by its tag need not
/// read them: kept at ingest, a comparison of the name with the one before
/// it of the same tag.
///
/// INVARIANT: `last` is the newest message with the tag, and every held
/// message with the tag from `since` on has the name of `len` bytes at
/// `at` in the arena, the newest one's (`len` [`ABSENT`]: the field is
/// absent). When `last` is not held, no held message has the tag:
/// messages are evicted in seq order.
#[derive(Clone, Copy, Debug)]
struct Sole {
    last: Option<Seq>,
    since: Seq,
    // Two words, not a range: written and read a word at a time, at
    // every message, they never wait on one another.
    at: usize,
    len: usize,
}

/// [`Sole::len`] of a field that is absent.
const ABSENT: usize = usize::MAX;

const NO_SOLE: Sole = Sole {
    last: None,
    since: Seq::ZERO,
    at: 0,
    len: ABSENT,
};

impl Sole {
    fn name<'a>(&self, arena: &'a [u8]) -> Option<&'a [u8]> {
        (self.len != ABSENT).then(|| arena.get(self.at..self.at + self.len).unwrap_or_default())
    }
}

/// What [`Summaries::sole_name`] knows of a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoleName<'a> {
    /// No held message has the tag.
    NoMessage,
    /// Every held message with the tag, from the seq asked about on, has
    /// this name (`None`: the field is absent).
    Name(Option<&'a [u8]>),
    /// Not known: two names share the tag there, or no record is kept.
    Unknown,
}

/// A stored message's PRI and names, for [`Summaries::add`]: its
/// hostname, app-name and unit in [`Field`] order (`None`: absent), and
/// where each starts in the arena.
#[derive(Clone, Debug)]
pub struct Stored<'a> {
    pub pri: u8,
    /// Read from the bytes as received where there are any: the arena's
    /// copy was just written, and a word read back from it right away
    /// stalls on the writes.
    pub names: [Option<&'a [u8]>; 3],
    /// The arena offset of each name's copy (any value for one absent).
    pub places: [usize; 3],
}

impl Summaries {
    /// How many slots a ring of `max_messages` needs.
    fn slots_for(max_messages: usize) -> Option<usize> {
        // `max_messages` consecutive seqs touch at most this many blocks,
        // less one.
        (max_messages / BLOCK as usize)
            .checked_add(2)?
            .checked_next_power_of_two()
    }

    /// The bytes of the tables for a ring of `max_messages`, if that fits
    /// a `usize`.
    pub fn bytes_for(max_messages: usize) -> Option<usize> {
        let slots = Summaries::slots_for(max_messages)?.checked_mul(std::mem::size_of::<Slot>())?;
        let tags = max_messages.checked_mul(std::mem::size_of::<Tags>())?;
        slots.checked_add(tags)
    }

    /// The tables for a ring of `max_messages`, with no summary yet; `None`
    /// when they cannot be allocated.
    pub fn new(max_messages: usize) -> Option<Summaries> {
        let n = Summaries::slots_for(max_messages)?;
        let mut slots = Vec::new();
        slots.try_reserve_exact(n).ok()?;
        slots.resize(n, EMPTY_SLOT);
        let mut tags = Vec::new();
        tags.try_reserve_exact(max_messages).ok()?;
        tags.resize(max_messages, Tags::default());
        Some(Summaries {
            slots: slots.into_boxed_slice(),
            tags: tags.into_boxed_slice(),
            soles: vec![NO_SOLE; 3 * 256].into_boxed_slice(),
        })
    }

    /// A table of one slot and no tags, where [`Summaries::new`] could not
    /// allocate: only the newest block has a summary.
    pub fn one_slot() -> Summaries {
        Summaries {
            slots: Box::new([EMPTY_SLOT]),
            tags: Box::default(),
            soles: Box::default(),
        }
    }

    /// The message `seq` is stored, at `at` in the ring's seq tables, its
    /// record written in `arena`; `stored` says where its names lie (none:
    /// it has no index, and may hold anything). `first` is the oldest
    /// message held. The first of its block starts the block's summary
    /// again.
    pub fn add(
        &mut self,
        seq: Seq,
        at: usize,
        first: Seq,
        arena: &[u8],
        stored: Option<Stored<'_>>,
    ) {
        let block = block_of(seq);
        let mask = self.slots.len() - 1;
        let slot = &mut self.slots[block as usize & mask];
        if slot.block != block {
            *slot = Slot {
                block,
                summary: Summary::EMPTY,
            };
        }
        let s = &mut slot.summary;
        let Some(Stored { pri, names, places }) = stored else {
            *s = Summary::ANY;
            return;
        };
        s.severities |= 1 << (pri & 7);
        // A PRI is at most 255: the facility is below 32.
        s.facilities |= 1 << (pri >> 3);
        let hashes = [
            hash(Field::Host, names[0]),
            hash(Field::App, names[1]),
            hash(Field::Unit, names[2]),
        ];
        for h in hashes {
            // In place (a set made and then joined would be written a
            // word and read whole, a stall per message).
            s.names.insert_hash(h);
        }
        let tags = hashes.map(tag_of);
        if let Some(t) = self.tags.get_mut(at) {
            *t = Tags(tags);
        }
        if self.soles.is_empty() {
            return;
        }
        for (i, ((tag, name), place)) in tags.into_iter().zip(names).zip(places).enumerate() {
            let sole = &mut self.soles[i * 256 + usize::from(tag)];
            let held = sole.last.is_some_and(|last| last >= first);
            if !held {
                // No other held message has the tag.
                sole.since = Seq::ZERO;
            } else if !same(sole.name(arena), name) {
                sole.since = seq;
            }
            sole.last = Some(seq);
            (sole.at, sole.len) = (place, name.map_or(ABSENT, <[u8]>::len));
        }
    }

    /// [`SoleName`] of the held messages of `arena` from `from` on whose
    /// tag of `field` is `tag`; `first` is the oldest held.
    pub fn sole_name<'a>(
        &self,
        arena: &'a [u8],
        first: Seq,
        field: Field,
        tag: u8,
        from: Seq,
    ) -> SoleName<'a> {
        let Some(sole) = self
            .soles
            .get((field as usize - 1) * 256 + usize::from(tag))
        else {
            return SoleName::Unknown;
        };
        match sole.last {
            Some(last) if last >= first && sole.since <= from => SoleName::Name(sole.name(arena)),
            Some(last) if last >= first => SoleName::Unknown,
            _ => SoleName::NoMessage,
        }
    }

    /// The tags of the messages, indexed as the ring's seq tables; empty
    /// when none are kept. Whether a message has tags (an index) is the
    /// PRI table's to say.
    pub fn tags(&self) -> &[Tags] {
        &self.tags
    }

    /// Forgets every summary (the ring was cleared).
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY_SLOT);
        self.soles.fill(NO_SOLE);
    }

    /// The summary of block `block`, if one is kept.
    pub fn of(&self, block: u64) -> Option<&Summary> {
        let slot = &self.slots[block as usize & (self.slots.len() - 1)];
        (slot.block == block).then_some(&slot.summary)
    }
}

/// Whether two names (`None`: absent) are the same: what ingest asks of
/// each message's three names, so a name of up to 16 bytes (most are) is
/// compared as two overlapping words each, without a call.
fn same(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    fn ends<const N: usize>(s: &[u8]) -> Option<(&[u8; N], &[u8; N])> {
        s.first_chunk().zip(s.last_chunk())
    }
    match (a, b) {
        (Some(a), Some(b)) if a.len() == b.len() => match a.len() {
            8..=16 => ends::<8>(a) == ends::<8>(b),
            4..=7 => ends::<4>(a) == ends::<4>(b),
            _ => a == b,
        },
        (None, None) => true,
        _ => false,
    }
}

/// A run of seqs a reader reads: `start..until` lie in blocks not ruled
/// out (the messages there may be selected). `start == until` when there
/// is none, or when the budget ran out first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Open {
    pub start: Seq,
    pub until: Seq,
    /// Summaries looked at.
    pub looked: u64,
}

/// A run found is followed at most this many blocks: a reader of a value
/// in every block asks again this rarely.
const RUN_BLOCKS: u64 = 256;

/// Forward from `from`: the first run in `from..to` of blocks that `no`
/// does not rule out, looking at `max_blocks` summaries at most. Every
/// seq in `from..start` is in a block ruled out. When the budget runs out
/// first, `start == until` is where it stopped (and `start < to`); when
/// every block is ruled out, both are `to`.
pub fn next_open(
    m: &dyn Messages,
    from: Seq,
    to: Seq,
    max_blocks: u64,
    no: &dyn Fn(&Summary) -> bool,
) -> Open {
    let Some(sums) = m.summaries() else {
        return Open {
            start: from,
            until: to.max(from),
            looked: 0,
        };
    };
    let rules_out = |block| sums.of(block).is_some_and(no);
    let mut start = from;
    let mut looked = 0;
    while start < to {
        if looked >= max_blocks {
            return Open {
                start,
                until: start,
                looked,
            };
        }
        let block = block_of(start);
        looked += 1;
        let block_end = block_start(block + 1).min(to);
        if rules_out(block) {
            start = block_end;
            continue;
        }
        let mut until = block_end;
        for _ in 1..RUN_BLOCKS {
            if until >= to || rules_out(block_of(until)) {
                break;
            }
            looked += 1;
            until = block_start(block_of(until) + 1).min(to);
        }
        return Open {
            start,
            until,
            looked,
        };
    }
    Open {
        start: to,
        until: to,
        looked,
    }
}

/// Back from `to`: the last run in `from..to` of blocks that `no` does
/// not rule out, looking at `max_blocks` summaries at most. Every seq in
/// `until..to` is in a block ruled out. When the budget runs out first,
/// `start == until` is where it stopped (and `until > from`); when every
/// block is ruled out, both are `from`.
pub fn prev_open(
    m: &dyn Messages,
    from: Seq,
    to: Seq,
    max_blocks: u64,
    no: &dyn Fn(&Summary) -> bool,
) -> Open {
    let Some(sums) = m.summaries() else {
        return Open {
            start: from.min(to),
            until: to,
            looked: 0,
        };
    };
    let rules_out = |block| sums.of(block).is_some_and(no);
    let mut until = to;
    let mut looked = 0;
    while until > from {
        if looked >= max_blocks {
            return Open {
                start: until,
                until,
                looked,
            };
        }
        let block = block_of(until.minus(1));
        looked += 1;
        let first = block_start(block).max(from);
        if rules_out(block) {
            until = first;
            continue;
        }
        let mut start = first;
        for _ in 1..RUN_BLOCKS {
            if start <= from || rules_out(block_of(start.minus(1))) {
                break;
            }
            looked += 1;
            start = block_start(block_of(start.minus(1))).max(from);
        }
        return Open {
            start,
            until,
            looked,
        };
    }
    Open {
        start: from,
        until: from,
        looked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Query;
    use crate::query::histogram::{Count, Histogram};
    use crate::store::file;
    use crate::store::ring::{Config, Cred, Incoming, Ring, Transport};
    use proptest::prelude::*;

    use std::sync::LazyLock;

    /// Another name with the tag of `name`, found among those `make` makes
    /// of a number: a tag two names share, so that the tags alone do not
    /// say which one a message has.
    fn twin(field: Field, name: &str, make: impl Fn(u32) -> String) -> &'static str {
        let tag = Tags::tag(field, Some(name.as_bytes()));
        let found = (0..)
            .map(make)
            .find(|n| Tags::tag(field, Some(n.as_bytes())) == tag)
            .expect("one name in 256 has it");
        Box::leak(found.into_boxed_str())
    }

    static APPS: LazyLock<[&str; 5]> = LazyLock::new(|| {
        let twin = twin(Field::App, "sshd", |i| format!("d{i}"));
        ["sshd", "nginx", "cron", "kernel", twin]
    });
    static HOSTS: LazyLock<[&str; 4]> = LazyLock::new(|| {
        let twin = twin(Field::Host, "web1", |i| format!("h{i}"));
        ["web1", "web2", "db", twin]
    });
    static UNITS: LazyLock<[&str; 4]> = LazyLock::new(|| {
        let twin = twin(Field::Unit, "sshd.service", |i| format!("u{i}.service"));
        ["nginx.service", "sshd.service", "session-4.scope", twin]
    });

    /// A message to store: PRI, hostname (4 is none), app-name (5 is
    /// none), unit (4 is none), indexed or not. The last name of each list
    /// shares its tag with the first.
    #[derive(Clone, Debug)]
    struct Msg {
        pri: u8,
        host: usize,
        app: usize,
        unit: usize,
        indexed: bool,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(Msg),
        Clear,
        BeginClear,
        Wipe(usize),
        /// Evict what is older than this many ops ago, at most this many.
        Age(i64, usize),
        /// Killed now: the next process adopts the memory file.
        Adopt,
    }

    fn msg() -> impl Strategy<Value = Msg> {
        // Mostly common severities and one facility, so that the rare
        // ones are in few blocks.
        let pri = prop_oneof![
            8 => Just(14u8),
            2 => 0u8..192,
        ];
        (
            pri,
            0usize..5,
            0usize..6,
            0usize..5,
            proptest::bool::weighted(0.95),
        )
            .prop_map(|(pri, host, app, unit, indexed)| Msg {
                pri,
                host,
                app,
                unit,
                indexed,
            })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            200 => msg().prop_map(Op::Push),
            1 => Just(Op::Clear),
            1 => Just(Op::BeginClear),
            2 => (0usize..4000).prop_map(Op::Wipe),
            2 => (0i64..300, 0usize..40).prop_map(|(a, n)| Op::Age(a, n)),
            1 => Just(Op::Adopt),
        ]
    }

    /// A filter a summary may rule blocks out for, alone or with others.
    fn filter() -> impl Strategy<Value = String> {
        let one = prop_oneof![
            (0u8..8).prop_map(|s| format!("sev={s}")),
            (0u8..8).prop_map(|s| format!("sev=!{s}")),
            prop::sample::subsequence(vec!["kern", "user", "mail", "local7"], 1..3)
                .prop_map(|f| format!("fac={}", f.join(","))),
            prop::sample::subsequence(vec!["sshd", "nginx", "cron", "other", "-", APPS[4]], 1..3)
                .prop_map(|a| format!("app={}", a.join(","))),
            prop::sample::subsequence(vec!["sshd", "nginx", "-"], 1..3)
                .prop_map(|a| format!("app=!{}", a.join(","))),
            prop::sample::subsequence(vec!["web1", "web2", "db", "-", HOSTS[3]], 1..3)
                .prop_map(|h| format!("host={}", h.join(","))),
            prop::sample::subsequence(
                vec!["nginx", "sshd.service", "session-4.scope", "-", UNITS[3]],
                1..3
            )
            .prop_map(|u| format!("unit={}", u.join(","))),
            Just("unit=!nginx".to_string()),
            Just("grep=m1".to_string()),
        ];
        proptest::collection::vec(one, 1..4).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|p| seen.insert(p.split('=').next().unwrap_or("").to_string()))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    fn push(r: &mut Ring, i: i64, m: &Msg) {
        let host = HOSTS.get(m.host).copied().unwrap_or("-");
        let app = APPS.get(m.app).copied().unwrap_or("-");
        let raw = format!("<{}>1 - {host} {app} - - - m{i}", m.pri);
        let index = match m.indexed {
            true => crate::ingest::syslog::index_in_utc(raw.as_bytes(), i),
            false => None,
        };
        let unit = UNITS.get(m.unit).map(|u| u.as_bytes());
        let msg = Incoming {
            received_us: i,
            transport: Transport::Unix,
            cred: Some(Cred {
                pid: 1,
                uid: 0,
                gid: 0,
            }),
            truncated: false,
            bytes: raw.as_bytes(),
        };
        r.push_sent(msg, index, unit);
    }

    fn adopted(r: &Ring) -> Ring {
        let mut mem = file::anonymous(r.memory().len()).expect("memory");
        mem.copy_from_slice(r.memory());
        let config = Config {
            max_messages: r.max_messages(),
            arena_bytes: r.arena_bytes(),
            max_message_bytes: r.max_message_bytes(),
        };
        Ring::adopt(config, crate::store::file::SnapshotSpace::NONE, mem)
            .expect("adopted")
            .0
    }

    /// What a plain scan selects: every held message the filter selects.
    fn scan(r: &Ring, q: &Query) -> Vec<Seq> {
        Seq::range(r.first_seq(), r.next_seq())
            .filter(|&s| {
                let e = r.get(s).expect("held");
                q.filter.matches_fields(e.received_us, &e.fields())
            })
            .collect()
    }

    /// The same, reading only the runs [`next_open`] gives, `budget`
    /// summaries at a time, and in them only the messages whose PRI and
    /// tags the filter does not reject ([`Ring::skip_pri`]).
    fn forward(r: &Ring, q: &Query, budget: u64) -> Vec<Seq> {
        let no = |s: &Summary| q.filter.rules_out(s);
        let (mut at, to) = (r.first_seq(), r.next_seq());
        let mut found = Vec::new();
        while at < to {
            let open = next_open(r, at, to, budget, &no);
            assert!(open.looked <= budget.max(1) + RUN_BLOCKS, "{open:?}");
            assert!(at <= open.start && open.start <= open.until && open.until <= to);
            if open.start == open.until {
                assert!(open.start > at || open.start == to, "no progress: {open:?}");
                at = open.start;
                continue;
            }
            let mut s = open.start;
            while s < open.until {
                s = r.skip_pri(s, open.until, budget, &q.filter.sieve());
                if s == open.until {
                    break;
                }
                let e = r.get(s).expect("held");
                if q.filter.matches_fields(e.received_us, &e.fields()) {
                    found.push(s);
                }
                s = s.next();
            }
            at = open.until;
        }
        found
    }

    /// The same back from the newest, with [`prev_open`].
    fn backward(r: &Ring, q: &Query, budget: u64) -> Vec<Seq> {
        let no = |s: &Summary| q.filter.rules_out(s);
        let (from, mut at) = (r.first_seq(), r.next_seq());
        let mut found = Vec::new();
        while at > from {
            let open = prev_open(r, from, at, budget, &no);
            assert!(from <= open.start && open.start <= open.until && open.until <= at);
            if open.start == open.until {
                assert!(
                    open.until < at || open.until == from,
                    "no progress: {open:?}"
                );
                at = open.until;
                continue;
            }
            for s in Seq::range(open.start, open.until).rev() {
                let e = r.get(s).expect("held");
                if q.filter.matches_fields(e.received_us, &e.fields()) {
                    found.push(s);
                }
            }
            at = open.start;
        }
        found.reverse();
        found
    }

    /// A histogram of the whole ring, counted as `GET /histogram` counts.
    fn histogram(r: &Ring, q: &Query) -> [u64; 8] {
        let (start, end) = (r.first_seq(), r.next_seq());
        let mut c = Count::new(Histogram::new(0, i64::MAX, 3), r, start, end);
        while !c.step(&q.filter, r, 7) {}
        let mut by_sev = [0; 8];
        for bucket in c.histogram().counts() {
            for (n, add) in by_sev.iter_mut().zip(bucket) {
                *n += add;
            }
        }
        by_sev
    }

    fn check(r: &Ring, q: &Query, budget: u64) -> Result<(), TestCaseError> {
        let want = scan(r, q);
        // No block that holds a selected message is ruled out.
        for &s in &want {
            let held = r.summaries().of(block_of(s));
            prop_assert!(held.is_some(), "the block of {} has no summary", s);
            prop_assert!(
                !held.is_some_and(|h| q.filter.rules_out(h)),
                "{}: {:?}",
                s,
                held
            );
        }
        // No message the filter selects is rejected on its PRI and tags.
        let sieve = q.filter.sieve();
        let passes = |s: Seq| r.pri(s).is_none_or(|p| sieve.passes(p, r.tags(s).as_ref()));
        for &s in &want {
            prop_assert!(passes(s), "{} rejected on {:?}", s, r.tags(s));
        }
        // A tag that the ring says one name alone has, from a seq on, is
        // that name's in every message held from there.
        let (first, next) = (r.first_seq(), r.next_seq());
        let fields = [Field::Host, Field::App, Field::Unit];
        for from in [first, first.plus(next.since(first) / 2)] {
            for s in Seq::range(from, next) {
                let Some(tags) = r.tags(s) else { continue };
                let f = r.get(s).expect("held").fields();
                for (field, name) in fields
                    .into_iter()
                    .zip([f.hostname, f.app_name, f.sent.unit])
                {
                    match r.sole_name(field, tags.get(field), from) {
                        SoleName::Name(n) => prop_assert_eq!(n, name, "{:?} at {}", field, s),
                        SoleName::NoMessage => prop_assert!(false, "{:?} held at {}", field, s),
                        SoleName::Unknown => {}
                    }
                }
            }
        }
        // The ring's walk of its tables, across the wrap, stops where a
        // walk message by message does.
        for from in Seq::range(first, next).step_by(5) {
            for max in [1, 7, u64::MAX] {
                let to = next.min(from.saturating_plus(max));
                let one_by_one = Seq::range(from, to).find(|&s| passes(s)).unwrap_or(to);
                prop_assert_eq!(r.skip_pri(from, next, max, &sieve), one_by_one);
            }
        }
        prop_assert_eq!(forward(r, q, budget), want.clone());
        prop_assert_eq!(backward(r, q, budget), want.clone());
        let mut by_sev = [0u64; 8];
        for &s in &want {
            let sev = r.get(s).expect("held").fields().severity;
            by_sev[usize::from(sev.min(7))] += 1;
        }
        prop_assert_eq!(histogram(r, q), by_sev);
        Ok(())
    }

    proptest! {
        /// Two names compare as their bytes do, at every length.
        #[test]
        fn names_are_the_same_when_their_bytes_are(
            a in proptest::collection::vec(0u8..3, 0..20),
            flip in any::<prop::sample::Index>(),
        ) {
            prop_assert!(same(Some(&a), Some(&a.clone())));
            prop_assert!(!same(Some(&a), None) && same(None, None));
            let mut b = a.clone();
            if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] ^= 1;
                prop_assert!(!same(Some(&a), Some(&b)), "{:?} {:?}", a, b);
            }
            b.push(0);
            prop_assert_eq!(same(Some(&a), Some(&b)), false);
        }
    }

    /// `app=sshd` is counted on the tags alone while no other app-name
    /// held shares sshd's tag; with its twin held it is read; once the
    /// twin and those after it are evicted, on the tags again.
    #[test]
    fn a_name_is_counted_on_its_tags_while_it_alone_has_them() {
        let config = Config {
            max_messages: 10,
            arena_bytes: 200 * crate::store::ring::SLOT,
            max_message_bytes: 120,
        };
        let mut r = Ring::new(config).expect("ring");
        let q = Query::parse("app=sshd", 0).expect("query");
        let app = |app| Msg {
            pri: 14,
            host: 0,
            app,
            unit: 0,
            indexed: true,
        };
        let (sshd, nginx, twin) = (0, 1, 4);
        for (i, a) in [sshd, nginx, sshd, nginx].into_iter().enumerate() {
            push(&mut r, i as i64, &app(a));
        }
        let exact = |r: &Ring| q.filter.exact_sieve(r, r.first_seq()).is_some();
        assert!(exact(&r));
        assert_eq!(histogram(&r, &q)[6], 2);
        push(&mut r, 4, &app(twin));
        push(&mut r, 5, &app(sshd));
        assert!(!exact(&r), "two app-names share the tag");
        assert_eq!(histogram(&r, &q)[6], 3);
        // The twin at seq 4, and the sshd after it (where one name has the
        // tag again from), evicted: 10 messages from seq 6 on.
        for i in 6..16 {
            push(&mut r, i, &app([sshd, nginx][i as usize % 2]));
        }
        assert_eq!(r.first_seq(), Seq::new(6));
        assert!(exact(&r));
        assert_eq!(histogram(&r, &q)[6], 5);
        assert!(exact(&adopted(&r)), "rebuilt from the records");
        r.clear();
        assert!(exact(&r));
        assert_eq!(histogram(&r, &q)[6], 0);
    }

    proptest! {
        /// For rings that wrapped, evicted, were cleared and adopted, and
        /// filters on what summaries hold (with others): the messages found
        /// reading only the blocks not ruled out, forward and back, and the
        /// histogram, are those a scan of every message finds.
        #[test]
        fn reading_the_open_blocks_finds_what_a_scan_finds(
            ops in proptest::collection::vec(op(), 0..700),
            max_messages in 1usize..400,
            arena_slots in 300usize..3000,
            q in filter(),
            budget in prop_oneof![Just(1u64), 2u64..10, Just(1 << 20)],
        ) {
            let config = Config {
                max_messages,
                arena_bytes: arena_slots * crate::store::ring::SLOT,
                max_message_bytes: 120,
            };
            let mut r = Ring::new(config).expect("ring");
            let q = Query::parse(&q, 0).expect("query");
            for (i, op) in ops.iter().enumerate() {
                let now = i as i64;
                match op {
                    Op::Push(m) => push(&mut r, now, m),
                    Op::Clear => r.clear(),
                    Op::BeginClear => r.begin_clear(),
                    Op::Wipe(n) => {
                        r.wipe_step(*n);
                    }
                    Op::Age(age, max) => {
                        r.evict_older_than(now - age, *max);
                    }
                    Op::Adopt => r = adopted(&r),
                }
                if i % 50 == 0 {
                    check(&r, &q, budget)?;
                }
            }
            check(&r, &q, budget)?;
            check(&adopted(&r), &q, budget)?;
        }
    }

    /// The summary of a block holds what its messages hold, and rules out
    /// what none of them holds; one without an index may hold anything.
    #[test]
    fn a_block_is_ruled_out_only_for_what_none_of_its_messages_holds() {
        let mut r = Ring::new(Config {
            max_messages: 1000,
            arena_bytes: 1 << 20,
            max_message_bytes: 120,
        })
        .expect("ring");
        // Block 0: info from sshd on web1, in no unit; block 1 the same
        // and one emerg from nginx in nginx.service, without a hostname;
        // block 2: one without an index.
        let info = |app| Msg {
            pri: 14,
            host: 0,
            app,
            unit: 4,
            indexed: true,
        };
        for i in 0..127 {
            push(&mut r, i, &info(0));
        }
        let emerg = Msg {
            pri: 8,
            host: 4,
            app: 1,
            unit: 0,
            indexed: true,
        };
        push(&mut r, 127, &emerg);
        for i in 128..150 {
            let m = Msg {
                indexed: i != 140,
                ..info(0)
            };
            push(&mut r, i, &m);
        }
        let blocks = [0u64, 1, 2];
        let ruled_out = |q: &str| -> Vec<bool> {
            let q = Query::parse(q, 0).expect("query");
            blocks
                .iter()
                .map(|&b| r.summaries().of(b).is_some_and(|s| q.filter.rules_out(s)))
                .collect()
        };
        assert_eq!(ruled_out("sev=emerg"), [true, false, false]);
        assert_eq!(ruled_out("sev=info"), [false, false, false]);
        assert_eq!(ruled_out("app=nginx"), [true, false, false]);
        assert_eq!(ruled_out("app=sshd"), [false, false, false]);
        assert_eq!(
            ruled_out("app=!sshd"),
            [false, false, false],
            "a negated list"
        );
        assert_eq!(ruled_out("unit=nginx"), [true, false, false]);
        assert_eq!(ruled_out("unit=-"), [false, false, false]);
        assert_eq!(ruled_out("unit=-&app=nginx"), [true, false, false]);
        assert_eq!(ruled_out("host=-"), [true, false, false]);
        assert_eq!(ruled_out("host=db"), [true, true, false]);
        assert_eq!(ruled_out("fac=mail"), [true, true, false]);
        assert_eq!(ruled_out("fac=user&grep=x"), [false, false, false]);
        assert_eq!(
            ruled_out("grep=x"),
            [false, false, false],
            "no test of blocks"
        );
        // Block 3 holds nothing yet: no summary, read.
        assert!(r.summaries().of(3).is_none());
    }

    /// Ten rare messages in a ring of many blocks: a reader looks at the
    /// blocks' summaries and the few blocks that hold them, not the ring.
    #[test]
    fn a_rare_value_is_found_without_reading_the_ring() {
        let mut r = Ring::new(Config {
            max_messages: 100_000,
            arena_bytes: 16 << 20,
            max_message_bytes: 120,
        })
        .expect("ring");
        for i in 0..100_000 {
            let rare = i % 10_000 == 5_000;
            let m = Msg {
                pri: if rare { 8 } else { 14 },
                host: 0,
                app: if rare { 2 } else { 1 },
                unit: if rare { 1 } else { 0 },
                indexed: true,
            };
            push(&mut r, i, &m);
        }
        for q in ["sev=emerg", "app=cron", "unit=sshd"] {
            let q = Query::parse(q, 0).expect("query");
            let (mut at, to) = (r.first_seq(), r.next_seq());
            let (mut read, mut looked) = (0, 0);
            while at < to {
                let open = next_open(&r, at, to, u64::MAX, &|s| q.filter.rules_out(s));
                looked += open.looked;
                read += open.until.since(open.start);
                at = open.until;
            }
            assert_eq!(read, 10 * BLOCK, "{q:?}");
            assert!(looked <= 100_000 / BLOCK + 20, "{looked}");
            assert_eq!(forward(&r, &q, 100).len(), 10);
        }
    }
}
