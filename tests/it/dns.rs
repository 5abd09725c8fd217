//! A DNS server on loopback for the tests: RFC 1035 over UDP, written here from the RFC (nothing
//! shared with the resolver under test). It answers TXT questions from the records published to
//! it, SERVFAIL for the names told to fail, and NXDOMAIN for every other name.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

const TXT: u16 = 16;
const NXDOMAIN: u8 = 3;
const SERVFAIL: u8 = 2;

#[derive(Default)]
struct Zone {
    txt: HashMap<String, Vec<String>>,
    failing: HashSet<String>,
}

/// The server, answering until dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let serving = zone.clone();
        let task = tokio::spawn(async move {
            let mut buffer = [0u8; 512];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buffer).await else {
                    continue;
                };
                let reply = answer(&buffer[..n], &serving.lock().unwrap());
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        DnsServer { addr, zone, task }
    }

    /// Adds a TXT record at `name`.
    pub fn publish(&self, name: &str, value: &str) {
        let mut zone = self.zone.lock().unwrap();
        zone.txt
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
    }

    /// Takes down a TXT record at `name`.
    pub fn unpublish(&self, name: &str, value: &str) {
        let mut zone = self.zone.lock().unwrap();
        if let Some(values) = zone.txt.get_mut(&name.to_ascii_lowercase()) {
            values.retain(|v| v != value);
        }
    }

    /// Makes every question about `name` answer SERVFAIL.
    pub fn fail(&self, name: &str) {
        self.zone.lock().unwrap().failing.insert(name.to_ascii_lowercase());
    }
}

/// The reply to one query (none to a message that is not one question).
fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    // The question: its name's labels, then its type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let question = query.get(12..at + 4)?;
    let kind = u16::from_be_bytes([query[at], query[at + 1]]);
    let name = labels.join(".");
    let (rcode, values) = if zone.failing.contains(&name) {
        (SERVFAIL, Vec::new())
    } else {
        match zone.txt.get(&name) {
            Some(values) if kind == TXT => (0, values.clone()),
            Some(_) => (0, Vec::new()),
            None => (NXDOMAIN, Vec::new()),
        }
    };
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[..2]);
    // QR, authoritative, the query's RD; RA; the rcode.
    reply.push(0x84 | (query[2] & 0x01));
    reply.push(0x80 | rcode);
    for count in [1, values.len() as u16, 0, 0] {
        reply.extend_from_slice(&count.to_be_bytes());
    }
    reply.extend_from_slice(question);
    for value in values {
        let mut data = Vec::new();
        for chunk in value.as_bytes().chunks(255) {
            data.push(chunk.len() as u8);
            data.extend_from_slice(chunk);
        }
        // The name by a pointer to the question's; TXT, IN, a minute's TTL.
        reply.extend_from_slice(&[0xC0, 0x0C]);
        reply.extend_from_slice(&TXT.to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes());
        reply.extend_from_slice(&60u32.to_be_bytes());
        reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
        reply.extend_from_slice(&data);
    }
    Some(reply)
}
