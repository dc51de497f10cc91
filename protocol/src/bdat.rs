//! BDAT chunk accounting (RFC 3030 §2–§4).
//!
//! A BDAT command announces exactly how many octets follow it; the receiver reads that
//! many, with no dot-stuffing and no end sequence, and the message ends with the chunk
//! marked LAST. Miscounting by one octet desynchronises the whole session, so the
//! accounting lives here, once.

use std::fmt;

/// Why a BDAT command cannot start a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BdatError {
    /// A chunk is still being received.
    ChunkInProgress {
        /// Octets still expected.
        remaining: u64,
    },
    /// The LAST chunk was already received.
    AfterLast,
}

impl fmt::Display for BdatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChunkInProgress { remaining } => {
                write!(f, "a BDAT chunk still expects {remaining} octets")
            }
            Self::AfterLast => f.write_str("the LAST chunk was already received"),
        }
    }
}

impl std::error::Error for BdatError {}

/// Reassembles a message from BDAT chunks.
#[derive(Debug, Clone)]
pub struct BdatAssembler {
    max_stored: usize,
    body: Vec<u8>,
    size: u64,
    remaining: u64,
    chunks: u32,
    last: bool,
}

impl BdatAssembler {
    /// An assembler that stores at most `max_stored` octets (the rest is counted, so
    /// that SIZE can be enforced without holding an over-size message).
    pub fn new(max_stored: usize) -> Self {
        Self {
            max_stored,
            body: Vec::new(),
            size: 0,
            remaining: 0,
            chunks: 0,
            last: false,
        }
    }

    /// Start a chunk of `size` octets, the last one if `last`.
    pub fn start_chunk(&mut self, size: u64, last: bool) -> Result<(), BdatError> {
        if self.remaining > 0 {
            return Err(BdatError::ChunkInProgress {
                remaining: self.remaining,
            });
        }
        if self.last {
            return Err(BdatError::AfterLast);
        }
        self.remaining = size;
        self.last = last;
        self.chunks += 1;
        Ok(())
    }

    /// Take chunk octets from `input`; returns how many belong to the chunk. The rest
    /// is the next command.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        let room = self.max_stored.saturating_sub(self.body.len()).min(take);
        self.body.extend_from_slice(&input[..room]);
        self.remaining -= take as u64;
        self.size += take as u64;
        take
    }

    /// Octets the current chunk still expects.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// True when the current chunk is complete (time to reply to its BDAT).
    pub fn chunk_complete(&self) -> bool {
        self.remaining == 0
    }

    /// True when the LAST chunk is complete: the message is whole.
    pub fn is_finished(&self) -> bool {
        self.last && self.remaining == 0
    }

    /// Octets received in all chunks.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Chunks started.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }

    /// True if octets were dropped past the storage limit.
    pub fn overflowed(&self) -> bool {
        self.size > self.body.len() as u64
    }

    /// The stored message.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_counted_exactly() {
        let mut a = BdatAssembler::new(usize::MAX);
        a.start_chunk(5, false).expect("start");
        assert_eq!(a.feed(b"abc"), 3);
        assert_eq!(
            a.start_chunk(1, false),
            Err(BdatError::ChunkInProgress { remaining: 2 })
        );
        assert_eq!(a.feed(b"deBDAT 0 LAST\r\n"), 2);
        assert!(a.chunk_complete() && !a.is_finished());
        a.start_chunk(0, true).expect("last");
        assert!(a.is_finished());
        assert_eq!(a.start_chunk(1, false), Err(BdatError::AfterLast));
        assert_eq!((a.size(), a.chunks()), (5, 2));
        assert_eq!(a.into_body(), b"abcde");
    }

    #[test]
    fn storage_limit() {
        let mut a = BdatAssembler::new(2);
        a.start_chunk(4, true).expect("start");
        assert_eq!(a.feed(b"wxyz"), 4);
        assert!(a.overflowed() && a.is_finished());
        assert_eq!(a.into_body(), b"wx");
    }
}
