//! What a reader of stored messages needs, whoever stores them: the ring or
//! a snapshot of it ([`crate::snapshot::View`]). A dump or a filter written
//! against [`Messages`] reads both the same way, with the same results.

use crate::ring::{Entry, Read, Ring};

/// Stored messages with consecutive seqs, `first_seq()..next_seq()`, read by
/// seq in O(1).
pub trait Messages {
    /// The message with this seq, if it is held.
    fn get(&self, seq: u64) -> Option<Entry<'_>>;

    /// Seq of the oldest message held (equal to [`Messages::next_seq`] when
    /// none is).
    fn first_seq(&self) -> u64;

    /// The seq after the newest message held.
    fn next_seq(&self) -> u64;

    /// What a cursor that has not yet seen `seq` should read next: the
    /// message, how many seqs before the oldest it is, or the end.
    fn read(&self, seq: u64) -> Read<'_> {
        let first = self.first_seq();
        if seq < first {
            return Read::Skipped(first - seq);
        }
        match self.get(seq) {
            Some(e) => Read::Entry(e),
            None => Read::End,
        }
    }

    /// Seq of the newest message held, if any.
    fn last_seq(&self) -> Option<u64> {
        (self.next_seq() > self.first_seq()).then(|| self.next_seq() - 1)
    }

    /// How many messages are held.
    fn count(&self) -> u64 {
        self.next_seq() - self.first_seq()
    }
}

impl Messages for Ring {
    fn get(&self, seq: u64) -> Option<Entry<'_>> {
        Ring::get(self, seq)
    }

    fn first_seq(&self) -> u64 {
        Ring::first_seq(self)
    }

    fn next_seq(&self) -> u64 {
        Ring::next_seq(self)
    }

    fn read(&self, seq: u64) -> Read<'_> {
        Ring::read(self, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{Config, Incoming, Transport};

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
        assert_eq!((generic.first_seq(), generic.next_seq()), (2, 5));
        assert_eq!((generic.last_seq(), generic.count()), (Some(4), 3));
        for seq in 0..7 {
            assert_eq!(generic.read(seq), ring.read(seq), "seq {seq}");
            assert_eq!(generic.get(seq), ring.get(seq), "seq {seq}");
        }
    }
}
