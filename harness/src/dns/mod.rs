//! The fake DNS server: authoritative answers from YAML zones over UDP and TCP, with
//! per-name faults, so that MX selection and fallback (RFC 5321 §5.1, RFC 7505) can be
//! tested on one machine without touching the real DNS.
//!
//! Built on hickory-server 0.26: the zones become an [`InMemoryZoneHandler`] each in a
//! [`Catalog`]; [`FakeDns`] sits in front of the catalog and answers faulty names itself.
//! Every question is logged, so a scenario can tell what a sender asked.

pub mod raw;
pub mod zone;

use crate::outcome::HarnessError;
use crate::yaml::{Invalid, LoadError};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TLSA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

pub use zone::{Fault, NameSpec, Zones};

/// One question the server was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name, lower case, absolute.
    pub name: String,
    /// The record type (`MX`, `A`, ...).
    pub rtype: String,
    /// `udp` or `tcp`.
    pub protocol: &'static str,
}

/// The request handler: faults first, then the catalog.
pub struct FakeDns {
    catalog: Catalog,
    faults: HashMap<LowerName, Fault>,
    /// Names whose answers carry the AD bit.
    secure: HashSet<LowerName>,
    log: Arc<Mutex<Vec<Question>>>,
}

/// Read a zone file: YAML zones, with each problem located.
pub fn read_zones(file: &Path) -> Result<Zones, LoadError> {
    let zones: Zones = crate::yaml::read_yaml(file)?;
    let problems = zone::check(&zones);
    if problems.is_empty() {
        Ok(zones)
    } else {
        Err(LoadError::file(file, problems.join("; ")))
    }
}

impl FakeDns {
    /// Build the zones into a catalog; fails on names or targets that are not names.
    pub fn new(zones: &Zones) -> Result<Self, Invalid> {
        let problems = zone::check(zones);
        if !problems.is_empty() {
            return Err(Invalid(problems.join("; ")));
        }
        let mut catalog = Catalog::new();
        let mut faults = HashMap::new();
        let mut secure = HashSet::new();
        for (zone_name, names) in zones {
            let origin = zone::origin(zone_name)?;
            let mut z = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
                origin.clone(),
                ZoneType::Primary,
                AxfrPolicy::Deny,
            );
            let soa = SOA::new(
                absolute_or_root("ns", &origin),
                absolute_or_root("hostmaster", &origin),
                1,
                3600,
                600,
                86400,
                zone::TTL,
            );
            z.upsert_mut(Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)), 1);
            for (name, spec) in names {
                let owner = zone::absolute(name, &origin)?;
                if let Some(fault) = spec.fault {
                    faults.insert(LowerName::new(&owner), fault);
                }
                if spec.secure {
                    secure.insert(LowerName::new(&owner));
                }
                for rdata in records(spec, &origin)? {
                    z.upsert_mut(Record::from_rdata(owner.clone(), zone::TTL, rdata), 1);
                }
            }
            catalog.upsert(LowerName::new(&origin), vec![Arc::new(z)]);
        }
        Ok(Self {
            catalog,
            faults,
            secure,
            log: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The questions asked so far, shared with the running server.
    pub fn log(&self) -> Arc<Mutex<Vec<Question>>> {
        Arc::clone(&self.log)
    }

    /// The response for a faulty name, or `None` to let the catalog answer.
    async fn fault<R: ResponseHandler>(
        &self,
        fault: Fault,
        request: &Request,
        mut response: R,
    ) -> Option<ResponseInfo> {
        let metadata = Metadata::response_from_request(&request.metadata);
        let code = match fault {
            Fault::Servfail => ResponseCode::ServFail,
            Fault::Nxdomain => ResponseCode::NXDomain,
            Fault::Refused => ResponseCode::Refused,
            // No reply at all; the header returned here only feeds hickory's metrics.
            Fault::Timeout => {
                return Some(ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                }));
            }
            Fault::Truncate if request.protocol() == Protocol::Udp => {
                let mut m = metadata;
                m.truncation = true;
                m.authoritative = true;
                let reply =
                    MessageResponseBuilder::from_message_request(request).build_no_records(m);
                return Some(sent(response.send_response(reply).await, request));
            }
            Fault::Truncate => return None,
        };
        let reply = MessageResponseBuilder::from_message_request(request)
            .error_msg(&request.metadata, code);
        Some(sent(response.send_response(reply).await, request))
    }
}

fn sent<E>(result: Result<ResponseInfo, E>, request: &Request) -> ResponseInfo {
    result.unwrap_or_else(|_| {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = ResponseCode::ServFail;
        ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        })
    })
}

fn absolute_or_root(label: &str, origin: &Name) -> Name {
    zone::absolute(label, origin).unwrap_or_else(|_| Name::root())
}

fn records(spec: &NameSpec, origin: &Name) -> Result<Vec<RData>, Invalid> {
    let mut out = Vec::new();
    for mx in &spec.mx {
        out.push(RData::MX(MX::new(
            mx.preference,
            zone::absolute(&mx.exchange, origin)?,
        )));
    }
    out.extend(spec.a.iter().map(|&ip| RData::A(A(ip))));
    out.extend(spec.aaaa.iter().map(|&ip| RData::AAAA(AAAA(ip))));
    if let Some(target) = &spec.cname {
        out.push(RData::CNAME(CNAME(zone::absolute(target, origin)?)));
    }
    if !spec.txt.is_empty() {
        out.push(RData::TXT(TXT::new(spec.txt.clone())));
    }
    for target in &spec.ptr {
        out.push(RData::PTR(PTR(zone::absolute(target, origin)?)));
    }
    for r in &spec.raw {
        out.push(r.rdata()?);
    }
    for t in &spec.tlsa {
        let zone::TlsaData::Hex(data) = &t.data else {
            return Err(crate::invalid!(
                "TLSA {}: `server` and `ca` name the certificates of a delivery case's \
                 scripted servers; a zone served alone needs the hex data",
                String::from(t.clone())
            ));
        };
        out.push(RData::TLSA(TLSA::new(
            t.usage.into(),
            t.selector.into(),
            t.matching.into(),
            data.clone(),
        )));
    }
    Ok(out)
}

#[async_trait::async_trait]
impl RequestHandler for FakeDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response: R,
    ) -> ResponseInfo {
        let mut secure = false;
        if let Ok(info) = request.request_info() {
            let name = info.query.name();
            secure = self.secure.contains(name);
            if let Ok(mut log) = self.log.lock() {
                log.push(Question {
                    name: name.to_string(),
                    rtype: record_type(info.query.query_type()),
                    protocol: if info.protocol == Protocol::Udp {
                        "udp"
                    } else {
                        "tcp"
                    },
                });
            }
            if let Some(&fault) = self.faults.get(name)
                && let Some(done) = self.fault(fault, request, response.clone()).await
            {
                return done;
            }
        }
        if secure {
            let signed = Signed(response);
            return self.catalog.handle_request::<_, T>(request, signed).await;
        }
        self.catalog.handle_request::<R, T>(request, response).await
    }
}

/// The catalog's answer about a `secure` name, sent with the AD bit: what a
/// validating resolver tells its stub for signed data (RFC 4035 §3.2.3), which is all
/// a DANE sender behind one asks of it (RFC 7672 §2.2). Nothing is signed here; the
/// sender under test trusts its resolver, as in production it trusts its own.
#[derive(Clone)]
struct Signed<R>(R);

#[async_trait::async_trait]
impl<R: ResponseHandler> ResponseHandler for Signed<R> {
    async fn send_response<'a>(
        &mut self,
        mut response: hickory_server::zone_handler::MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, hickory_server::net::NetError> {
        response.metadata_mut().authentic_data = true;
        self.0.send_response(response).await
    }
}

fn record_type(t: RecordType) -> String {
    t.to_string()
}

/// A fake DNS server running on a UDP socket and a TCP listener at the same address.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it was asked.
    pub log: Arc<Mutex<Vec<Question>>>,
    server: Server<FakeDns>,
}

impl Running {
    /// Stop serving.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }

    /// Serve until the server fails.
    pub async fn wait(mut self) -> Result<(), HarnessError> {
        self.server
            .block_until_done()
            .await
            .map_err(|e| HarnessError::during("dns server", e))
    }
}

/// Start serving `zones` on `addr` (port 0 picks one; UDP gets the port TCP got).
pub async fn serve(zones: &Zones, addr: SocketAddr) -> Result<Running, HarnessError> {
    let handler = FakeDns::new(zones).map_err(|e| HarnessError(e.into_message()))?;
    let log = handler.log();
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|e| HarnessError::during(&format!("dns: cannot listen on tcp {addr}"), e))?;
    let addr = tcp
        .local_addr()
        .map_err(|e| HarnessError::during("dns: tcp listener", e))?;
    let udp = UdpSocket::bind(addr)
        .await
        .map_err(|e| HarnessError::during(&format!("dns: cannot bind udp {addr}"), e))?;
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64);
    Ok(Running { addr, log, server })
}
