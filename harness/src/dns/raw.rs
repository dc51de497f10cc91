//! Records whose domain name is written label by label and sent as written: the forms
//! RFC 1035 does not allow and a resolver library must refuse, so that a sender can be
//! seen to treat such an answer as a failed lookup, not as "no MX" (RFC 5321 §5.1).
//!
//! ```yaml
//! "@":
//!   A: [127.0.0.3]                  # bait: the implicit MX a misled sender would use
//!   RAW:
//!     - { type: MX, preference: 10, labels: [mx, "", example, test] }   # empty label
//!     - { type: MX, preference: 10, labels: [{ octets: 64 }, test] }    # over 63
//! ```
//!
//! On the wire each label is its length octet and its octets, and the name ends with a
//! zero octet (RFC 1035 §3.1). An empty label is that zero octet: the name ends early and
//! the rest of the labels trail inside the record data, whose length no longer fits its
//! type. A label of 64 to 191 octets has a length octet whose top bits are the reserved
//! `01` and `10` (RFC 1035 §4.1.4, RFC 6891 §5); one of 192 to 255 octets reads as a
//! compression pointer (top bits `11`) into nowhere. Five labels of 63 octets make a
//! name over the 255 octets of RFC 1035 §2.3.4.

use crate::yaml::Invalid;
use std::fmt;

use hickory_proto::rr::RData;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::NULL;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The record types a raw name can be served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum RawType {
    /// PREFERENCE and EXCHANGE (RFC 1035 §3.3.9).
    #[serde(rename = "MX")]
    Mx,
    /// PTRDNAME (RFC 1035 §3.3.12).
    #[serde(rename = "PTR")]
    Ptr,
    /// CNAME (RFC 1035 §3.3.1).
    #[serde(rename = "CNAME")]
    Cname,
}

/// One label as written: its text, or a run of `octets` copies of `fill` (default
/// `a`) for the long ones no one wants to type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawLabel {
    /// These octets (UTF-8 of the text).
    Text(String),
    /// `octets` times the octet `fill`.
    Run {
        /// How many octets, 0 to 255.
        octets: u8,
        /// The octet repeated, one ASCII character.
        #[serde(default = "default_fill")]
        fill: char,
    },
}

fn default_fill() -> char {
    'a'
}

impl RawLabel {
    /// Its length in octets, without building it.
    fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Run { octets, fill } => usize::from(*octets) * fill.len_utf8(),
        }
    }

    fn octets(&self) -> Vec<u8> {
        match self {
            Self::Text(t) => t.as_bytes().to_vec(),
            Self::Run { octets, fill } => {
                let mut b = [0; 4];
                fill.encode_utf8(&mut b)
                    .as_bytes()
                    .repeat(usize::from(*octets))
            }
        }
    }
}

/// A record of `type` whose name is sent label by label, however malformed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// What the record claims to be.
    #[serde(rename = "type")]
    pub rtype: RawType,
    /// The MX preference; MX only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<u16>,
    /// The labels of the name, first to last; the root's zero octet is added.
    pub labels: Vec<RawLabel>,
}

impl RawRecord {
    /// What is wrong with the record as written (not with the name it sends: that is
    /// the point of it).
    pub fn problem(&self) -> Option<String> {
        let odd_fill = self.labels.iter().find_map(|l| match l {
            RawLabel::Run { fill, .. } if !fill.is_ascii() => Some(*fill),
            _ => None,
        });
        if let Some(fill) = odd_fill {
            return Some(format!(
                "RAW {self}: fill {fill:?} is not one ASCII character"
            ));
        }
        if let Some(RawLabel::Text(t)) = self
            .labels
            .iter()
            .find(|l| matches!(l, RawLabel::Text(t) if t.len() > 255))
        {
            return Some(format!(
                "RAW {self}: the label {t:?} is {} octets: a label's length must fit in one \
                 octet (use {{ octets: N }} for long runs)",
                t.len()
            ));
        }
        // Length octets, labels, the root's zero octet and an MX preference.
        let size: usize = self.labels.iter().map(|l| 1 + l.len()).sum::<usize>() + 3;
        if size > usize::from(u16::MAX) {
            return Some(format!(
                "RAW {self}: {size} octets of record data, over the 65,535 an RDLENGTH can say"
            ));
        }
        match (self.rtype, self.preference) {
            (RawType::Mx, None) => Some(format!("RAW {self}: an MX record needs `preference`")),
            (RawType::Ptr | RawType::Cname, Some(_)) => {
                Some(format!("RAW {self}: only an MX record has a preference"))
            }
            _ => None,
        }
    }

    /// The record data as sent: a record of the claimed type whose octets are these.
    pub fn rdata(&self) -> Result<RData, Invalid> {
        if let Some(p) = self.problem() {
            return Err(Invalid(p));
        }
        let mut data = Vec::new();
        if let Some(p) = self.preference {
            data.extend_from_slice(&p.to_be_bytes());
        }
        for label in &self.labels {
            let octets = label.octets();
            // `problem` refused anything longer.
            data.push(u8::try_from(octets.len()).unwrap_or(u8::MAX));
            data.extend_from_slice(&octets);
        }
        data.push(0);
        let code = match self.rtype {
            RawType::Mx => RecordType::MX,
            RawType::Ptr => RecordType::PTR,
            RawType::Cname => RecordType::CNAME,
        };
        Ok(RData::Unknown {
            code,
            rdata: NULL::with(data),
        })
    }
}

impl fmt::Display for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.rtype {
            RawType::Mx => "MX",
            RawType::Ptr => "PTR",
            RawType::Cname => "CNAME",
        };
        f.write_str(kind)?;
        if let Some(p) = self.preference {
            write!(f, " {p}")?;
        }
        f.write_str(" ")?;
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match label {
                RawLabel::Text(t) if t.is_empty() => f.write_str("(empty)")?,
                RawLabel::Text(t) => f.write_str(t)?,
                RawLabel::Run { octets, fill } => write!(f, "({octets} x {fill})")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(rtype: RawType, preference: Option<u16>, labels: Vec<RawLabel>) -> RawRecord {
        RawRecord {
            rtype,
            preference,
            labels,
        }
    }

    fn octets(r: &RawRecord) -> Vec<u8> {
        match r.rdata().unwrap() {
            RData::Unknown { rdata, .. } => rdata.anything.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn labels_are_sent_as_written_with_their_lengths() {
        let text = |s: &str| RawLabel::Text(s.into());
        let r = raw(
            RawType::Mx,
            Some(10),
            vec![text("mx"), text(""), text("test")],
        );
        assert_eq!(octets(&r), b"\x00\x0a\x02mx\x00\x04test\x00");
        assert_eq!(r.to_string(), "MX 10 mx.(empty).test");
        let long = raw(
            RawType::Ptr,
            None,
            vec![RawLabel::Run {
                octets: 255,
                fill: 'a',
            }],
        );
        let o = octets(&long);
        assert_eq!((o[0], o.len()), (255, 257));
        assert!(
            matches!(long.rdata().unwrap(), RData::Unknown { code, .. } if code == RecordType::PTR)
        );
    }

    #[test]
    fn what_cannot_be_written_is_refused_with_the_record() {
        let too_long = raw(RawType::Cname, None, vec![RawLabel::Text("a".repeat(256))]);
        assert!(too_long.rdata().unwrap_err().0.contains("256 octets"));
        let wide = raw(
            RawType::Cname,
            None,
            vec![RawLabel::Run {
                octets: 200,
                fill: 'é',
            }],
        );
        assert!(wide.rdata().unwrap_err().0.contains("not one ASCII"));
        let huge = raw(
            RawType::Ptr,
            None,
            vec![
                RawLabel::Run {
                    octets: 255,
                    fill: 'a',
                };
                300
            ],
        );
        assert!(huge.rdata().unwrap_err().0.contains("65,535"));
        let no_pref = raw(RawType::Mx, None, vec![RawLabel::Text("a".into())]);
        assert!(no_pref.rdata().unwrap_err().0.contains("preference"));
        let ptr_pref = raw(RawType::Ptr, Some(1), vec![]);
        assert!(ptr_pref.rdata().unwrap_err().0.contains("only an MX"));
    }
}
