//! The raw MIME form of an outgoing email (RFC 5322/2045/2047): multipart/alternative with the
//! text and HTML parts in base64, the sender's name and the subject as encoded words (so no value
//! can inject a header), and the one-click unsubscribe headers (RFC 2369, RFC 8058). SES v2 sends
//! it as raw content; the local outbox stores it as a `.eml` file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::OutgoingEmail;

/// `text` as RFC 2047 encoded words (UTF-8, base64), folded so no line passes 78 characters.
fn encoded_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 42 {
            words.push(std::mem::take(&mut chunk));
        }
        // Line breaks and other controls have no place in a header, even encoded.
        chunk.push(if c.is_control() { ' ' } else { c });
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", STANDARD.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// An address for a header: anything but printable ASCII without `<>`, spaces or controls is
/// dropped (the callers pass parsed addresses; this is the last guard against header injection).
fn address(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ',' | '"'))
        .collect()
}

/// `data` in base64 lines of 76 characters.
fn base64_lines(data: &[u8]) -> String {
    let encoded = STANDARD.encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// The message's id: its idempotency key at the sender's domain.
fn message_id(email: &OutgoingEmail) -> String {
    let local: String = email
        .idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '.'
            }
        })
        .collect();
    let domain = address(&email.from_address)
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "ovation.invalid".into());
    format!("{local}@{domain}")
}

/// The whole message, CRLF line ends.
pub fn render(email: &OutgoingEmail) -> String {
    let boundary = format!("=_ovation_{}", address(&email.idempotency_key).replace('#', "_"));
    let mut headers = vec![
        format!(
            "From: {} <{}>",
            encoded_words(&email.from_name),
            address(&email.from_address)
        ),
        format!("To: <{}>", address(&email.to)),
        format!(
            "Date: {}",
            jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%a, %d %b %Y %H:%M:%S +0000")
        ),
        // The same for every attempt of one send: a retry is recognisably the same message.
        format!("Message-ID: <{}>", message_id(email)),
    ];
    if let Some(reply_to) = &email.reply_to {
        headers.push(format!("Reply-To: <{}>", address(reply_to)));
    }
    headers.push(format!("Subject: {}", encoded_words(&email.subject)));
    if let Some(url) = &email.unsubscribe_url {
        let mut unsubscribe = Vec::new();
        if let Some(mailto) = &email.unsubscribe_mailto {
            unsubscribe.push(format!("<mailto:{}?subject=unsubscribe>", address(mailto)));
        }
        unsubscribe.push(format!("<{}>", address(url)));
        headers.push(format!("List-Unsubscribe: {}", unsubscribe.join(",\r\n ")));
        headers.push("List-Unsubscribe-Post: List-Unsubscribe=One-Click".into());
    }
    headers.push("Auto-Submitted: auto-generated".into());
    headers.push("MIME-Version: 1.0".into());
    headers.push(format!("Content-Type: multipart/alternative; boundary=\"{boundary}\""));
    let mut out = headers.join("\r\n");
    out.push_str("\r\n\r\n");
    for (kind, body) in [("plain", &email.text), ("html", &email.html)] {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        out.push_str(&base64_lines(body.as_bytes()));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// A message this module rendered, read back.
pub struct Parsed {
    /// Headers as written (encoded words left encoded).
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
}

impl Parsed {
    /// A header's value, decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, v)| decode_header(v))
    }
}

/// The decoded parts of a message this module rendered (the outbox page, tests).
pub fn parse(raw: &str) -> Option<Parsed> {
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(": ") {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut parts = body.split("\r\n\r\n").skip(1).map(|part| {
        let data: String = part.lines().take_while(|l| !l.starts_with("--")).collect();
        String::from_utf8(STANDARD.decode(data).unwrap_or_default()).unwrap_or_default()
    });
    Some(Parsed {
        headers,
        text: parts.next()?,
        html: parts.next()?,
    })
}

/// A header's value with its encoded words decoded (`Subject`, `From`).
pub fn decode_header(value: &str) -> String {
    value
        .split_whitespace()
        .map(|word| {
            word.strip_prefix("=?utf-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .and_then(|b64| STANDARD.decode(b64).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_else(|| format!(" {word}"))
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(subject: &str, name: &str) -> OutgoingEmail {
        OutgoingEmail {
            idempotency_key: "INV01#invite".into(),
            from_name: name.into(),
            from_address: "surveys@example.com".into(),
            reply_to: Some("help@example.com\r\nBcc: x@evil.test".into()),
            to: "ann@example.com".into(),
            subject: subject.into(),
            html: "<p>Hej Åse</p>".into(),
            text: "Hej Åse".into(),
            unsubscribe_url: Some("https://s.example.com/u/abc".into()),
            unsubscribe_mailto: Some("unsubscribe@example.com".into()),
            tags: vec![],
        }
    }

    #[test]
    fn values_cannot_inject_headers_and_round_trip() {
        let subject = "Hvor sandsynligt er det, at du vil anbefale Acme\r\nBcc: victim@example.com til en ven?";
        let raw = render(&email(subject, "Acme \"Support\"\nX-Evil: 1"));
        let parsed = parse(&raw).unwrap();
        let names: Vec<&str> = parsed.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Date",
                "Message-ID",
                "Reply-To",
                "Subject",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "Auto-Submitted",
                "MIME-Version",
                "Content-Type"
            ]
        );
        assert!(raw.lines().all(|l| l.trim_end_matches('\r').len() <= 78), "{raw}");
        let get = |n: &str| parsed.headers.iter().find(|(h, _)| h == n).unwrap().1.clone();
        assert_eq!(
            decode_header(&get("Subject")),
            "Hvor sandsynligt er det, at du vil anbefale Acme  Bcc: victim@example.com til en ven?"
        );
        assert_eq!(get("Reply-To"), "<help@example.comBcc:x@evil.test>");
        assert_eq!(
            get("List-Unsubscribe"),
            "<mailto:unsubscribe@example.com?subject=unsubscribe>, <https://s.example.com/u/abc>"
        );
        assert_eq!(
            (parsed.text.as_str(), parsed.html.as_str()),
            ("Hej Åse", "<p>Hej Åse</p>")
        );
    }
}
