//! DNS lookups for custom-domain checks, behind [`Resolver`] so the check can be pointed at any
//! server (`HOSTER_DNS_SERVER`) and tested against a real one on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hickory_proto::rr::{RData, RecordType};
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveError, TokioResolver};
use hoster_core::hostname::{DnsAnswers, proof_record_name};

/// Answers the two questions a domain check asks.
pub trait Resolver: Send + Sync {
    fn answers<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<DnsAnswers, String>>;
}

/// hickory's resolver, without a cache: a customer who just added the record must not wait out
/// an earlier negative answer's TTL.
pub struct Dns(TokioResolver);

impl Dns {
    /// `server`: one DNS server to ask; `None`: the system's (`/etc/resolv.conf`).
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Self> {
        let mut builder = match server {
            Some(addr) => TokioResolver::builder_with_config(
                ResolverConfig::from_parts(
                    None,
                    vec![],
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
                ),
                TokioConnectionProvider::default(),
            ),
            None => TokioResolver::builder_tokio()
                .map_err(|e| anyhow::anyhow!("cannot read the system's DNS settings ({e}); set HOSTER_DNS_SERVER"))?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        Ok(Self(builder.build()))
    }
}

/// No such name or no such record is an empty answer, not a failure.
fn empty_if_absent<T: Default>(result: Result<T, ResolveError>) -> Result<T, String> {
    match result {
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(T::default()),
        Err(e) => Err(format!("DNS lookup failed: {e}")),
        Ok(v) => Ok(v),
    }
}

impl Resolver for Dns {
    fn answers<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<DnsAnswers, String>> {
        Box::pin(async move {
            let txt = empty_if_absent(
                self.0
                    .lookup(format!("{}.", proof_record_name(domain)), RecordType::TXT)
                    .await
                    .map(|l| {
                        l.record_iter()
                            .filter_map(|r| match r.data() {
                                RData::TXT(t) => Some(
                                    t.txt_data()
                                        .iter()
                                        .map(|part| String::from_utf8_lossy(part))
                                        .collect::<String>(),
                                ),
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                    }),
            )?;
            let cname = empty_if_absent(self.0.lookup(format!("{domain}."), RecordType::CNAME).await.map(|l| {
                l.record_iter().find_map(|r| match r.data() {
                    RData::CNAME(c) => Some(c.0.to_ascii()),
                    _ => None,
                })
            }))?;
            Ok(DnsAnswers { txt, cname })
        })
    }
}
