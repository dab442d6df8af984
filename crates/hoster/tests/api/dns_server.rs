//! A real DNS server on a loopback UDP port, answering TXT and CNAME questions from a table the
//! test changes as it goes (what a customer does at their DNS provider).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Answers by (lowercase name without the final dot, record type).
type Records = Arc<Mutex<HashMap<(String, RecordType), Vec<RData>>>>;

#[derive(Clone)]
pub struct DnsServer {
    records: Records,
    addr: SocketAddr,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = DnsServer {
            records: Records::default(),
            addr: socket.local_addr().unwrap(),
        };
        let records = server.records.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut answer = Message::new();
                answer
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(query.op_code())
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true);
                let mut found = false;
                for q in query.queries() {
                    answer.add_query(q.clone());
                    let key = (
                        q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase(),
                        q.query_type(),
                    );
                    for data in records.lock().unwrap().get(&key).cloned().unwrap_or_default() {
                        found = true;
                        answer.add_answer(Record::from_rdata(q.name().clone(), 0, data));
                    }
                }
                answer.set_response_code(if found {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                });
                let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
            }
        });
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let data = values
            .iter()
            .map(|v| RData::TXT(TXT::new(vec![v.to_string()])))
            .collect();
        self.records
            .lock()
            .unwrap()
            .insert((name.to_string(), RecordType::TXT), data);
    }

    pub fn set_cname(&self, name: &str, target: &str) {
        let target = Name::from_ascii(format!("{target}.")).unwrap();
        self.records
            .lock()
            .unwrap()
            .insert((name.to_string(), RecordType::CNAME), vec![RData::CNAME(CNAME(target))]);
    }
}
