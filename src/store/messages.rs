//! What a reader of stored messages needs, whoever stores them: the ring or
//! a snapshot of it ([`crate::store::snapshot::View`]). A dump or a filter written
//! against [`Messages`] reads both the same way, with the same results.

use crate::store::ring::{Entry, Read, Ring, Seq};
use crate::store::summary::{Field, Sieve, SoleName, Summaries, Tags};

/// Stored messages with consecutive seqs, `first_seq()..next_seq()`, read by
/// seq in O(1).
pub trait Messages {
    /// The message with this seq, if it is held.
    fn get(&self, seq: Seq) -> Option<Entry<'_>>;

    /// Seq of the oldest message held (equal to [`Messages::next_seq`] when
    /// none is).
    fn first_seq(&self) -> Seq;

    /// The seq after the newest message held.
    fn next_seq(&self) -> Seq;

    /// What a cursor that has not yet seen `seq` should read next: the
    /// message, how many seqs before the oldest it is, or the end.
    fn read(&self, seq: Seq) -> Read<'_> {
        let first = self.first_seq();
        if seq < first {
            return Read::Skipped(first.since(seq));
        }
        match self.get(seq) {
            Some(e) => Read::Entry(e),
            None => Read::End,
        }
    }

    /// Seq of the newest message held, if any.
    fn last_seq(&self) -> Option<Seq> {
        self.next_seq()
            .prev()
            .filter(|&last| last >= self.first_seq())
    }

    /// The memory the messages' records lie in, for [`crate::store::search`];
    /// empty for a source that does not hand it out.
    fn arena(&self) -> &[u8] {
        &[]
    }

    /// The end of the run of records from `from` (which is held) that lie
    /// in seq order, one after the other, in [`Messages::arena`]: every seq
    /// in `from..end` is held, `end <= to`. `from` when there is no arena.
    fn contiguous_until(&self, from: Seq, to: Seq) -> Seq {
        let _ = to;
        from
    }

    /// Where in [`Messages::arena`] the record of the held `seq` starts;
    /// increasing with the seq within a run.
    fn record_start(&self, seq: Seq) -> usize {
        let _ = seq;
        0
    }

    /// The PRI of the held `seq` from its index; `None` without one. What a
    /// filter on severity or facility looks at first.
    fn pri(&self, seq: Seq) -> Option<u8> {
        self.get(seq)?.index.map(|ix| ix.pri())
    }

    /// The tags of the held `seq` ([`crate::store::summary::Tags`]);
    /// `None` without an index, or when the source keeps none.
    fn tags(&self, seq: Seq) -> Option<Tags> {
        let _ = seq;
        None
    }

    /// The first seq in `from..to`, looking at `max` at most, that `sieve`
    /// passes on its PRI and tags alone (a message without an index always
    /// passes); where it stopped looking when none did.
    fn skip_pri(&self, from: Seq, to: Seq, max: u64, sieve: &Sieve) -> Seq {
        let to = to.min(from.saturating_plus(max));
        Seq::range(from, to)
            .find(|&seq| {
                self.pri(seq)
                    .is_none_or(|pri| sieve.passes(pri, self.tags(seq).as_ref()))
            })
            .unwrap_or(to)
    }

    /// Whether the held messages from `from` on whose tag of `field` is
    /// `tag` all have one name, and which ([`SoleName`]): a reader that
    /// counts a name finds them by their tags alone when so. Unknown when
    /// the source keeps no tags.
    fn sole_name(&self, field: Field, tag: u8, from: Seq) -> SoleName<'_> {
        let _ = (field, tag, from);
        SoleName::Unknown
    }

    /// The summaries of the blocks of seqs ([`crate::store::summary`]),
    /// when the source keeps them: a block whose summary a filter rules
    /// out holds no message it selects. `None`: any block may hold
    /// anything, and readers read them all.
    fn summaries(&self) -> Option<&Summaries> {
        None
    }

    /// How many messages are held.
    fn count(&self) -> u64 {
        self.next_seq().since(self.first_seq())
    }

    /// The first seq held whose message was received at or after `t_us`
    /// ([`Messages::next_seq`] when none was), by binary search: seq order is
    /// receive order. After the wall clock stepped back that order has a
    /// break, and the search lands on one side of it.
    fn first_received_at(&self, t_us: i64) -> Seq {
        let (mut lo, mut hi) = (self.first_seq(), self.next_seq());
        while lo < hi {
            let mid = lo.plus(hi.since(lo) / 2);
            match self.get(mid) {
                Some(e) if e.received_us < t_us => lo = mid.next(),
                _ => hi = mid,
            }
        }
        lo
    }
}

impl Messages for Ring {
    fn get(&self, seq: Seq) -> Option<Entry<'_>> {
        Ring::get(self, seq)
    }

    fn first_seq(&self) -> Seq {
        Ring::first_seq(self)
    }

    fn next_seq(&self) -> Seq {
        Ring::next_seq(self)
    }

    fn read(&self, seq: Seq) -> Read<'_> {
        Ring::read(self, seq)
    }

    fn arena(&self) -> &[u8] {
        Ring::arena(self)
    }

    fn pri(&self, seq: Seq) -> Option<u8> {
        Ring::pri(self, seq)
    }

    fn tags(&self, seq: Seq) -> Option<Tags> {
        Ring::tags(self, seq)
    }

    fn skip_pri(&self, from: Seq, to: Seq, max: u64, sieve: &Sieve) -> Seq {
        Ring::skip_pri(self, from, to, max, sieve)
    }

    fn sole_name(&self, field: Field, tag: u8, from: Seq) -> SoleName<'_> {
        Ring::sole_name(self, field, tag, from)
    }

    fn contiguous_until(&self, from: Seq, to: Seq) -> Seq {
        Ring::contiguous_until(self, from, to)
    }

    fn summaries(&self) -> Option<&Summaries> {
        Some(Ring::summaries(self))
    }

    fn record_start(&self, seq: Seq) -> usize {
        Ring::record_start(self, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ring::{Config, Incoming, Transport};

    /// The trait's reads are the ring's own, including past both ends.
    #[test]
    fn ring_reads_the_same_through_the_trait() {
        let mut ring = Ring::new(Config {
            max_messages: 3,
            arena_bytes: 4096,
            max_message_bytes: 64,
        })
        .unwrap();
        for i in 0..5u8 {
            ring.push(Incoming {
                received_us: i64::from(i),
                transport: Transport::Tcp,
                cred: None,
                truncated: false,
                bytes: &[b'a' + i],
            });
        }
        let generic: &dyn Messages = &ring;
        assert_eq!(
            (generic.first_seq(), generic.next_seq()),
            (Seq::new(2), Seq::new(5))
        );
        assert_eq!(
            (generic.last_seq(), generic.count()),
            (Some(Seq::new(4)), 3)
        );
        for seq in (0..7).map(Seq::new) {
            assert_eq!(generic.read(seq), ring.read(seq), "seq {seq}");
            assert_eq!(generic.get(seq), ring.get(seq), "seq {seq}");
        }
    }

    /// The search lands on the first message received at or after the
    /// time, with ties and the ends of the ring.
    #[test]
    fn first_received_at_finds_the_start_of_a_time_range() {
        let mut ring = Ring::new(Config {
            max_messages: 100,
            arena_bytes: 1 << 16,
            max_message_bytes: 64,
        })
        .unwrap();
        // Received at 0, 10, 10, 20, ... 140: seqs 0..=15.
        for t in [
            0, 10, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140,
        ] {
            ring.push(Incoming {
                received_us: t,
                transport: Transport::Udp,
                cred: None,
                truncated: false,
                bytes: b"m",
            });
        }
        let m: &dyn Messages = &ring;
        assert_eq!(m.first_received_at(i64::MIN), Seq::ZERO);
        assert_eq!(m.first_received_at(0), Seq::ZERO);
        assert_eq!(m.first_received_at(1), Seq::new(1));
        assert_eq!(m.first_received_at(10), Seq::new(1), "the first of a tie");
        assert_eq!(m.first_received_at(11), Seq::new(3));
        assert_eq!(m.first_received_at(140), Seq::new(15));
        assert_eq!(m.first_received_at(141), Seq::new(16), "none: the next seq");
        // Against a scan, for every time in between.
        for t in -5..150 {
            let scan = (0..16)
                .map(Seq::new)
                .find(|&s| ring.get(s).unwrap().received_us >= t);
            assert_eq!(
                m.first_received_at(t),
                scan.unwrap_or(Seq::new(16)),
                "t {t}"
            );
        }
    }
}
