//! The one hash of the fuzzer: reply wordings, feature values, finding keys and file
//! names. Below every other fuzz module, so none of them depends on another for it.

/// FNV-1a.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
