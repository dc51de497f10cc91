//! Finding the first octet that needs a look of its own, eight octets at a time.
//!
//! Line and data decoders spend most of their time in runs of ordinary text, where the
//! only question is where the run ends: at a line end, a dot, a NUL or an 8-bit octet.
//! Asked one octet at a time, that question was the largest single cost of cutting a
//! server's commands and a client's replies into lines.

/// The length of the prefix of `bytes` that holds no 8-bit octet and none of `stops`.
///
/// Eight octets are tested at once: a byte equal to a stop becomes zero after an XOR,
/// and the usual zero-byte test finds it. That test can also mark the byte above a
/// zero byte (through a borrow) but never one below it, so its lowest mark is exact,
/// and the lowest is the only one used.
pub(crate) fn plain_prefix(bytes: &[u8], stops: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let stops_at = |b: u8| b >= 0x80 || stops.contains(&b);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let mut hits = w & HIGHS;
        for &stop in stops {
            hits |= zero(w ^ u64::from_ne_bytes([stop; 8]));
        }
        if hits != 0 {
            // Little-endian: the lowest mark is the first octet that ends the run.
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = chunks.remainder();
    at + rest.iter().position(|&b| stops_at(b)).unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(bytes: &[u8], stops: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| b >= 0x80 || stops.contains(&b))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn the_run_ends_at_the_first_stop_wherever_it_sits_in_a_word() {
        for stops in [&b"\r\n\0"[..], b"\r\n.\0"] {
            // Every stopping octet at every offset of words and remainders, amid plain
            // octets close to the stops in value (a borrow must not mark them first).
            for stop in [b'\r', b'\n', 0, b'.', 0x80, 0xff, 0xc3] {
                for len in 0..20 {
                    for at in 0..=len {
                        for fill in [b'a', 0x01, 0x0b, 0x0c, 0x0e, 0x09, 0x2f, 0x7f] {
                            let mut v = vec![fill; len];
                            if at < len {
                                v[at] = stop;
                            }
                            assert_eq!(plain_prefix(&v, stops), slow(&v, stops), "{v:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn two_stops_in_one_word_give_the_first() {
        assert_eq!(plain_prefix(b"abcdefg\0\r\nxyz", b"\r\n\0"), 7);
        assert_eq!(plain_prefix(b"ab\n\0cdefgh", b"\r\n\0"), 2);
        assert_eq!(plain_prefix(b"abcdefghijklmnop\x01\n", b"\r\n\0"), 17);
        assert_eq!(plain_prefix(b"abc.def", b"\r\n\0"), 7);
        assert_eq!(plain_prefix(b"abc.def", b"\r\n.\0"), 3);
    }
}
