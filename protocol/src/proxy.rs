//! The PROXY protocol header (HAProxy's specification, versions 1 and 2) that a load
//! balancer sends first on a connection to tell the server who the client is.
//!
//! A port that speaks PROXY reads exactly one header before anything else, and a
//! header it cannot read ends the connection: guessing would let any client claim any
//! address. A port that does not speak PROXY must see a header as the unknown command
//! it is. Exim's parser read malformed v2 addresses out of bounds (CVE-2023-42117),
//! which is why the decoder here checks every length against what arrived, and why the
//! catalogue sends malformed headers to ports that speak it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The twelve octets that open a version 2 header. `QUIT\n` in the middle makes a
/// server that does not speak PROXY, and takes a bare LF as a line end, hang up.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, its CRLF included.
pub const V1_MAX: usize = 107;

/// Which header versions a port accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accept {
    /// Text headers only.
    V1,
    /// Binary headers only.
    V2,
    /// Either.
    Any,
}

impl Accept {
    /// As written in settings and profiles: `v1`, `v2`, `any`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "v1" => Some(Self::V1),
            "v2" => Some(Self::V2),
            "any" => Some(Self::Any),
            _ => None,
        }
    }
}

/// A header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary form.
    V2,
}

/// A header that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its version.
    pub version: Version,
    /// The client and the address it connected to; `None` for `UNKNOWN`, a v2 `LOCAL`
    /// (the proxy's own health check) or a family other than TCP over IPv4 or IPv6:
    /// the connection's own addresses stand.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
}

/// Why a header cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError(pub String);

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, ProxyError> {
    Err(ProxyError(why.into()))
}

/// What the octets received so far make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A header, and how many octets it took; the rest belongs to the session.
    Header(Header, usize),
    /// Not enough octets yet.
    Incomplete,
}

/// Read a header from the start of `buf`, as a port accepting `accept` does.
pub fn decode(buf: &[u8], accept: Accept) -> Result<Decoded, ProxyError> {
    let v2 = accept != Accept::V1;
    let v1 = accept != Accept::V2;
    let n = buf.len().min(V2_SIGNATURE.len());
    if v2 && buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(Decoded::Incomplete)
        } else {
            decode_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if v1 && buf[..n] == b"PROXY "[..n] {
        return if n < 6 {
            Ok(Decoded::Incomplete)
        } else {
            decode_v1(buf)
        };
    }
    bad(match accept {
        Accept::V1 => "no PROXY v1 header: the connection must open with \"PROXY \"",
        Accept::V2 => "no PROXY v2 header: the connection must open with its signature",
        Accept::Any => "no PROXY header: the connection must open with one",
    })
}

fn decode_v1(buf: &[u8]) -> Result<Decoded, ProxyError> {
    let Some(lf) = buf.iter().take(V1_MAX).position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX {
            bad(format!("a PROXY v1 header longer than {V1_MAX} octets"))
        } else {
            Ok(Decoded::Incomplete)
        };
    };
    let Some(line) = buf[..lf].strip_suffix(b"\r") else {
        return bad("a PROXY v1 header must end with CRLF, not a bare LF");
    };
    let text = std::str::from_utf8(line).or(bad("a PROXY v1 header must be ASCII"))?;
    let words: Vec<&str> = text.split(' ').collect();
    let addresses = match words.get(1).copied() {
        Some("UNKNOWN") => None,
        Some(family @ ("TCP4" | "TCP6")) => {
            let [_, _, src, dst, sport, dport] = words[..] else {
                return bad(format!(
                    "PROXY {family} needs exactly two addresses and two ports, single spaces"
                ));
            };
            let v6 = family == "TCP6";
            Some((
                SocketAddr::new(address(src, v6)?, port(sport)?),
                SocketAddr::new(address(dst, v6)?, port(dport)?),
            ))
        }
        other => {
            return bad(format!(
                "PROXY v1 protocol {other:?}: TCP4, TCP6 or UNKNOWN"
            ));
        }
    };
    Ok(Decoded::Header(
        Header {
            version: Version::V1,
            addresses,
        },
        lf + 1,
    ))
}

fn address(text: &str, v6: bool) -> Result<IpAddr, ProxyError> {
    let parsed = if v6 {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    };
    parsed.map_or_else(
        || {
            bad(format!(
                "{text:?} is no IPv{} address",
                if v6 { 6 } else { 4 }
            ))
        },
        Ok,
    )
}

fn port(text: &str) -> Result<u16, ProxyError> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    match text.parse::<u16>() {
        Ok(p) if plain => Ok(p),
        _ => bad(format!("{text:?} is no port (0 to 65535, no leading zero)")),
    }
}

fn decode_v2(buf: &[u8]) -> Result<Decoded, ProxyError> {
    if buf.len() < 16 {
        return Ok(Decoded::Incomplete);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return bad(format!("PROXY v2 header of version {version}"));
    }
    let local = match command {
        0 => true,
        1 => false,
        c => return bad(format!("PROXY v2 command {c}: LOCAL (0) or PROXY (1)")),
    };
    let family = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() < 16 + len {
        return Ok(Decoded::Incomplete);
    }
    let body = &buf[16..16 + len];
    let need = match family {
        0x11 | 0x12 => 12,
        0x21 | 0x22 => 36,
        0x31 | 0x32 => 216,
        0x00 => 0,
        f => return bad(format!("PROXY v2 family and protocol 0x{f:02x}")),
    };
    if body.len() < need {
        return bad(format!(
            "PROXY v2 family 0x{family:02x} needs {need} octets of addresses, the header has {}",
            body.len()
        ));
    }
    tlvs(&body[need..])?;
    let addresses = match family {
        0x11 if !local => {
            let ip =
                |k: usize| IpAddr::from(<[u8; 4]>::try_from(&body[k..k + 4]).unwrap_or_default());
            let p = |k: usize| u16::from_be_bytes([body[k], body[k + 1]]);
            Some((SocketAddr::new(ip(0), p(8)), SocketAddr::new(ip(4), p(10))))
        }
        0x21 if !local => {
            let ip =
                |k: usize| IpAddr::from(<[u8; 16]>::try_from(&body[k..k + 16]).unwrap_or_default());
            let p = |k: usize| u16::from_be_bytes([body[k], body[k + 1]]);
            Some((
                SocketAddr::new(ip(0), p(32)),
                SocketAddr::new(ip(16), p(34)),
            ))
        }
        _ => None,
    };
    Ok(Decoded::Header(
        Header {
            version: Version::V2,
            addresses,
        },
        16 + len,
    ))
}

/// The type-length-value records after the addresses: each must fit in what is left.
fn tlvs(mut rest: &[u8]) -> Result<(), ProxyError> {
    while !rest.is_empty() {
        if rest.len() < 3 {
            return bad("a PROXY v2 TLV cut short");
        }
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        if rest.len() < 3 + len {
            return bad(format!(
                "a PROXY v2 TLV of type 0x{:02x} claims {len} octets, {} are left",
                rest[0],
                rest.len() - 3
            ));
        }
        rest = &rest[3 + len..];
    }
    Ok(())
}

/// The header a proxy would send for a client at `source` that connected to
/// `destination` (the two must be of one family).
pub fn encode(version: Version, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    match version {
        Version::V1 => {
            let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {family} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .into_bytes()
        }
        Version::V2 => {
            let mut out = V2_SIGNATURE.to_vec();
            out.push(0x21);
            let mut body = Vec::new();
            match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.push(0x11);
                    body.extend_from_slice(&s.octets());
                    body.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.push(0x21);
                    body.extend_from_slice(&v6(s).octets());
                    body.extend_from_slice(&v6(d).octets());
                }
            }
            body.extend_from_slice(&source.port().to_be_bytes());
            body.extend_from_slice(&destination.port().to_be_bytes());
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
            out.extend_from_slice(&body);
            out
        }
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn header(buf: &[u8], accept: Accept) -> (Header, usize) {
        match decode(buf, accept) {
            Ok(Decoded::Header(h, n)) => (h, n),
            other => panic!("{other:?} for {buf:?}"),
        }
    }

    #[test]
    fn encoded_headers_decode_to_their_addresses_at_every_cut() {
        let pairs = [
            (sa("192.0.2.1:56324"), sa("127.0.0.1:25")),
            (sa("[2001:db8::1]:40000"), sa("[::1]:2525")),
        ];
        for version in [Version::V1, Version::V2] {
            for (src, dst) in pairs {
                let mut bytes = encode(version, src, dst);
                let len = bytes.len();
                for cut in 0..len {
                    assert_eq!(decode(&bytes[..cut], Accept::Any), Ok(Decoded::Incomplete));
                }
                bytes.extend_from_slice(b"EHLO x\r\n");
                let (h, n) = header(&bytes, Accept::Any);
                assert_eq!(
                    (h.version, h.addresses, n),
                    (version, Some((src, dst)), len)
                );
            }
        }
    }

    #[test]
    fn unknown_and_local_keep_the_connections_addresses() {
        assert_eq!(header(b"PROXY UNKNOWN\r\n", Accept::V1).0.addresses, None);
        assert_eq!(header(b"PROXY UNKNOWN ffff::1 x y z\r\n", Accept::V1).1, 29);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(
            header(&local, Accept::V2),
            (
                Header {
                    version: Version::V2,
                    addresses: None
                },
                16
            )
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        let refused = |b: &[u8]| decode(b, Accept::Any).unwrap_err().0;
        assert!(refused(b"EHLO x\r\n").contains("no PROXY header"));
        assert!(refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").contains("bare LF"));
        assert!(refused(b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n").contains("IPv4"));
        assert!(refused(b"PROXY TCP4 ::1 ::1 1 2\r\n").contains("IPv4"));
        assert!(refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n").contains("port"));
        assert!(refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n").contains("port"));
        assert!(refused(b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n").contains("single spaces"));
        assert!(refused(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n").contains("UDP4"));
        assert!(refused(&[b"PROXY TCP6 ".as_slice(), &[b'f'; 120]].concat()).contains("longer"));
        let v2 = |ver: u8, fam: u8, body: &[u8]| {
            let mut b = V2_SIGNATURE.to_vec();
            b.extend_from_slice(&[ver, fam]);
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(body);
            b
        };
        assert!(refused(&v2(0x11, 0x11, &[0; 12])).contains("version 1"));
        assert!(refused(&v2(0x22, 0x11, &[0; 12])).contains("command 2"));
        assert!(refused(&v2(0x21, 0x11, &[0; 4])).contains("needs 12"));
        assert!(refused(&v2(0x21, 0x21, &[0; 12])).contains("needs 36"));
        assert!(refused(&v2(0x21, 0x41, &[])).contains("0x41"));
        let mut tlv = vec![0; 12];
        tlv.extend_from_slice(&[0x04, 0x00, 0x64, 1, 2]);
        assert!(refused(&v2(0x21, 0x11, &tlv)).contains("claims 100"));
        // Only what the port accepts.
        assert!(decode(b"PROXY UNKNOWN\r\n", Accept::V2).is_err());
        assert!(decode(&V2_SIGNATURE, Accept::V1).is_err());
    }

    #[test]
    fn a_long_v2_header_waits_for_all_its_octets() {
        let mut b = V2_SIGNATURE.to_vec();
        b.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        b.extend_from_slice(&[0; 100]);
        assert_eq!(decode(&b, Accept::Any), Ok(Decoded::Incomplete));
    }
}
