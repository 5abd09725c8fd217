//! `multipart/form-data` bodies (RFC 7578), as a page's file upload posts them: the parts'
//! names, file names and contents, read from a body already bounded in size. Only what a
//! browser sends is read: parts named by `Content-Disposition`, no nested multiparts.

use ovation::{Error, Result};

/// One part of a form: a field, or a file when it has a file name.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub file_name: Option<String>,
    pub content: &'a [u8],
}

/// The boundary a `Content-Type` of `multipart/form-data` names.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && (1..=70).contains(&value.len())).then(|| value.to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed() -> Error {
    Error::invalid("body", "is not a form upload this page can read; choose the file again")
}

/// The parts of `body`, in order.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>> {
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may open the body without its line break.
    let first = format!("--{boundary}");
    let mut rest = body
        .strip_prefix(first.as_bytes())
        .or_else(|| find(body, delimiter.as_bytes()).map(|at| &body[at + delimiter.len()..]))
        .ok_or_else(malformed)?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let end = find(rest, delimiter.as_bytes()).ok_or_else(malformed)?;
        let (part, after) = (&rest[..end], &rest[end + delimiter.len()..]);
        let split = find(part, b"\r\n\r\n").ok_or_else(malformed)?;
        let head = std::str::from_utf8(&part[..split]).map_err(|_| malformed())?;
        let (name, file_name) = disposition(head).ok_or_else(malformed)?;
        parts.push(Part {
            name,
            file_name,
            content: &part[split + 4..],
        });
        rest = after;
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data; …` header.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head
        .split("\r\n")
        .find_map(|l| {
            l.split_once(':')
                .filter(|(h, _)| h.trim().eq_ignore_ascii_case("content-disposition"))
        })?
        .1;
    let mut params = line.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut file_name) = (None, None);
    for param in params {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match key.trim() {
            "name" => name = Some(value),
            "filename" => file_name = Some(value),
            _ => {}
        }
    }
    Some((name?, file_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_upload_is_read() {
        let boundary = boundary("multipart/form-data; boundary=----WebKitFormBoundaryx8").unwrap();
        let body = b"------WebKitFormBoundaryx8\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
------WebKitFormBoundaryx8\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n\
Content-Type: text/csv\r\n\r\nemail\r\nann@example.com\r\n\r\n------WebKitFormBoundaryx8--\r\n";
        let parts = parts(body, &boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].content), ("csrf", &b"abc"[..]));
        assert_eq!(parts[1].file_name.as_deref(), Some("people.csv"));
        assert_eq!(parts[1].content, b"email\r\nann@example.com\r\n");
    }

    #[test]
    fn what_is_not_an_upload_is_refused() {
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary=\"q\""), Some("q".into()));
        for body in [
            &b""[..],
            b"--q\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--q\r\nno header end\r\n--q--",
            b"--q\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--q--",
        ] {
            assert!(parts(body, "q").is_err(), "{}", String::from_utf8_lossy(body));
        }
        assert!(parts(b"--q--\r\n", "q").unwrap().is_empty());
    }
}
