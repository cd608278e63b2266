//! Just enough MIME reading to check what lettre put on the wire: headers
//! (unfolded, RFC 2047 decoded), multipart splitting, and quoted-printable
//! and base64 bodies.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> String {
        self.header("Content-Type").unwrap_or("text/plain").to_ascii_lowercase()
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub top: Part,
    pub parts: Vec<Part>,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Mail {
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (headers, body) = split_head(&text);
        let top = Part { headers, body: body.to_owned() };
        let parts = match boundary(top.header("Content-Type").unwrap_or("")) {
            Some(b) => split_parts(body, &b),
            None => Vec::new(),
        };
        Mail { top, parts }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.top.header(name)
    }

    pub fn part(&self, content_type: &str) -> &Part {
        self.parts
            .iter()
            .find(|p| p.content_type().starts_with(content_type))
            .unwrap_or_else(|| panic!("no {content_type} part"))
    }

    pub fn text(&self) -> &str {
        &self.part("text/plain").body
    }

    pub fn html(&self) -> &str {
        &self.part("text/html").body
    }
}

fn split_head(text: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = headers.last_mut() {
                v.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let headers = headers.into_iter().map(|(n, v)| (n, decode_words(&v))).collect();
    (headers, body)
}

fn boundary(content_type: &str) -> Option<String> {
    let at = content_type.find("boundary=")?;
    let rest = &content_type[at + "boundary=".len()..];
    let b = rest.trim_start_matches('"');
    let end = b.find(['"', ';', ' ']).unwrap_or(b.len());
    Some(b[..end].to_owned())
}

fn split_parts(body: &str, boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    body.split(&delimiter)
        .skip(1)
        .take_while(|chunk| !chunk.starts_with("--"))
        .map(|chunk| {
            let (headers, raw) = split_head(chunk.trim_start_matches('\n'));
            let encoding = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            let body = match encoding.as_str() {
                "base64" => {
                    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
                    String::from_utf8(B64.decode(compact).expect("base64 body")).expect("utf-8 body")
                }
                "quoted-printable" => quoted_printable(raw),
                _ => raw.to_owned(),
            };
            Part { headers, body: body.trim_end_matches('\n').to_owned() }
        })
        .collect()
}

fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("qp hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 body")
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut first = true;
    while let Some(start) = rest.find("=?") {
        let Some(end) = rest[start + 2..].find("?=").map(|e| start + 2 + e) else { break };
        let word = &rest[start + 2..end];
        let mut pieces = word.splitn(3, '?');
        let (_charset, enc, text) = match (pieces.next(), pieces.next(), pieces.next()) {
            (Some(c), Some(e), Some(t)) => (c, e, t),
            _ => break,
        };
        let between = &rest[..start];
        // Whitespace between adjacent encoded words is not part of the text.
        if first || !between.trim().is_empty() {
            out.push_str(between);
        }
        first = false;
        let decoded = if enc.eq_ignore_ascii_case("b") {
            String::from_utf8(B64.decode(text).expect("b word")).expect("utf-8 word")
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&decoded);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}
