//! xtext (RFC 3461 §4): the encoding of DSN parameters (ENVID, ORCPT) and of the AUTH
//! parameter of MAIL (RFC 4954 §5).
//!
//! ```text
//! xtext    = *( xchar / hexchar )
//! xchar    = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
//!            except for "+" and "=".
//! hexchar  = "+" 2(%x30-39 / %x41-46)    ; "+" and two upper case hex digits
//! ```
//!
//! Decoded values end up in DSN reports and headers, so an encoded CR, LF or NUL would be
//! a header injection: decoding refuses them.

use std::fmt;

/// Why an xtext value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XtextError {
    /// Offset in the encoded value.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for XtextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xtext at octet {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for XtextError {}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode an xtext value into octets.
pub fn decode(s: &[u8]) -> Result<Vec<u8>, XtextError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => {
                let value = match (s.get(i + 1), s.get(i + 2)) {
                    (Some(&h), Some(&l)) => hex_value(h)
                        .zip(hex_value(l))
                        .map(|(h, l)| (h << 4) | l)
                        .ok_or(XtextError {
                            offset: i,
                            reason: "'+' must be followed by two upper-case hex digits",
                        })?,
                    _ => {
                        return Err(XtextError {
                            offset: i,
                            reason: "'+' must be followed by two upper-case hex digits",
                        });
                    }
                };
                if matches!(value, b'\r' | b'\n' | 0) {
                    return Err(XtextError {
                        offset: i,
                        reason: "encoded CR, LF or NUL is refused (header injection)",
                    });
                }
                out.push(value);
                i += 3;
            }
            b'=' => {
                return Err(XtextError {
                    offset: i,
                    reason: "'=' must be encoded as +3D",
                });
            }
            b @ 33..=126 => {
                out.push(b);
                i += 1;
            }
            _ => {
                return Err(XtextError {
                    offset: i,
                    reason: "only printable ASCII may appear in xtext",
                });
            }
        }
    }
    Ok(out)
}

/// Encode octets as xtext: `+`, `=`, and everything outside `!`..`~` become `+XX`.
pub fn encode(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rfc_example() {
        assert_eq!(decode(b"a+2Bb+3Dc").as_deref(), Ok(&b"a+b=c"[..]));
        assert_eq!(encode(b"a+b=c d"), "a+2Bb+3Dc+20d");
        for v in [&b"x"[..], b"+=+", b"\xff\x01 ~!"] {
            assert_eq!(decode(encode(v).as_bytes()).as_deref(), Ok(v));
        }
    }

    #[test]
    fn refuses_injection_and_bad_hex() {
        assert!(decode(b"a+0Db").is_err());
        assert!(decode(b"a+0A").is_err());
        assert!(decode(b"+00").is_err());
        assert!(decode(b"+2b").is_err(), "lower-case hex is not xtext");
        assert!(decode(b"+2").is_err());
        assert!(decode(b"a=b").is_err());
        assert!(decode(b"a b").is_err());
    }
}
