//! What the fuzz targets share: reading parameters from the front of an
//! input, and cutting a stream into the chunks a socket could deliver.
//!
//! Inputs that carry parameters start with them, so that a seed is a few
//! header bytes followed by real bytes (a syslog stream, an HTTP request):
//! a header of `[0x00]` for [`Input::cuts`] means "one chunk".

/// The fuzzer's bytes, read from the front. Reading past the end gives
/// zeros, so every input is a valid one.
pub struct Input<'a> {
    data: &'a [u8],
}

/// At most this many chunk lengths are read by [`Input::cuts`].
pub const MAX_CUTS: usize = 15;

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes (fewer when the input ends).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Chunk lengths for [`chunks`]: one byte `n`, then `n % 16` bytes, each
    /// a length (0 is an empty read).
    pub fn cuts(&mut self) -> Vec<usize> {
        let n = usize::from(self.byte()) % (MAX_CUTS + 1);
        (0..n).map(|_| usize::from(self.byte())).collect()
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// At most this many chunks come from [`chunks`], so that a long stream cut
/// in tiny pieces still runs fast.
pub const MAX_CHUNKS: usize = 4096;

/// `data` cut into chunks whose lengths cycle through `lengths` (the last
/// chunk takes what is left, also after [`MAX_CHUNKS`]). The chunks
/// concatenate to `data`. Without a non-zero length, `data` is one chunk.
pub fn chunks<'a>(data: &'a [u8], lengths: &[usize]) -> Vec<&'a [u8]> {
    if !lengths.iter().any(|&l| l > 0) {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        if out.len() + 1 == MAX_CHUNKS {
            out.push(rest);
            break;
        }
        let (chunk, after) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = after;
    }
    out
}

/// Whether `part` lies inside `whole` (it is a subslice of it, not a copy).
pub fn within(whole: &[u8], part: &[u8]) -> bool {
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    // An empty slice may point anywhere (e.g. a dangling `&[]`).
    part.is_empty() || (w.start <= p.start && p.end <= w.end)
}

/// The index of `raw` as ingestion makes it for a message received at
/// `received_us`, in UTC.
pub fn index(raw: &[u8], received_us: i64) -> Option<circolog::ingest::syslog::Index> {
    let received = jiff::Timestamp::from_microsecond(received_us).unwrap_or_default();
    let ctx = circolog::ingest::syslog::ParseContext {
        tz: jiff::tz::TimeZone::UTC,
    };
    circolog::ingest::syslog::index(raw, received, &ctx).1
}
