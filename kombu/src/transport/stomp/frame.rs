//! STOMP 1.2 frames: decoding from a byte buffer and encoding into one.
//!
//! A frame is a command line, header lines (`name:value`), a blank line, a body and a NUL byte.
//! Lines end in `\n` or `\r\n`. Header names and values are escaped (`\\`, `\n`, `\r`, `\c` for
//! `:`) in every frame but `CONNECT` and `CONNECTED`; an undefined escape is an error. A body is
//! read up to `content-length` bytes (so it may contain NULs) or else up to the first NUL. A
//! lone EOL between frames is a heart-beat. Repeated headers: the first one counts. Limits on
//! the frame size, the number of headers and the length of a header line keep a hostile peer
//! from making us buffer without end.

use std::fmt;

/// The STOMP commands, client and server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Command {
    Connect,
    Stomp,
    Connected,
    Send,
    Subscribe,
    Unsubscribe,
    Ack,
    Nack,
    Begin,
    Commit,
    Abort,
    Disconnect,
    Message,
    Receipt,
    Error,
}

const COMMANDS: &[(&str, Command)] = &[
    ("CONNECT", Command::Connect),
    ("STOMP", Command::Stomp),
    ("CONNECTED", Command::Connected),
    ("SEND", Command::Send),
    ("SUBSCRIBE", Command::Subscribe),
    ("UNSUBSCRIBE", Command::Unsubscribe),
    ("ACK", Command::Ack),
    ("NACK", Command::Nack),
    ("BEGIN", Command::Begin),
    ("COMMIT", Command::Commit),
    ("ABORT", Command::Abort),
    ("DISCONNECT", Command::Disconnect),
    ("MESSAGE", Command::Message),
    ("RECEIPT", Command::Receipt),
    ("ERROR", Command::Error),
];

impl Command {
    /// The command as written on the wire.
    pub fn as_str(self) -> &'static str {
        COMMANDS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("ERROR", |(n, _)| n)
    }

    fn parse(s: &str) -> Option<Command> {
        COMMANDS.iter().find(|(n, _)| *n == s).map(|(_, c)| *c)
    }

    /// `CONNECT` and `CONNECTED` headers are not escaped (for compatibility with STOMP 1.0).
    fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Connected)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// Headers in order, unescaped. Repeats are kept; [`Frame::header`] returns the first.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: Command) -> Self {
        Frame {
            command,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header_pair(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the decoder found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A whole frame.
    Frame(Frame),
    /// A heart-beat (a lone EOL).
    Heartbeat,
}

/// Bounds on what a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame, headers and body together.
    pub max_frame: usize,
    /// The most headers in one frame.
    pub max_headers: usize,
    /// The longest header line.
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 * 1024 * 1024,
            max_headers: 1000,
            max_header_line: 64 * 1024,
        }
    }
}

/// A frame that breaks the protocol or the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    message: String,
}

impl FrameError {
    fn new(message: impl Into<String>) -> Self {
        FrameError {
            message: message.into(),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid STOMP frame: {}", self.message)
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for crate::Error {
    fn from(e: FrameError) -> Self {
        crate::Error::new(crate::ErrorKind::Connection, e.to_string())
    }
}

/// Finds the next line in `buf` from `start`: (line without EOL, index after the EOL).
fn line(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rel = buf.get(start..)?.iter().position(|&b| b == b'\n')?;
    let end = start + rel;
    let content = &buf[start..end];
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    Some((content, end + 1))
}

fn unescape(raw: &str, what: &str) -> Result<String, FrameError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some(other) => {
                return Err(FrameError::new(format!(
                    "undefined escape `\\{other}` in {what}"
                )))
            }
            None => return Err(FrameError::new(format!("a lone `\\` ends {what}"))),
        }
    }
    Ok(out)
}

fn escape(raw: &str, out: &mut Vec<u8>) {
    for c in raw.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            ':' => out.extend_from_slice(b"\\c"),
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// Decodes the item at the front of `buf`: `Ok(Some((item, bytes used)))`, `Ok(None)` when
/// more bytes are needed, or an error when the bytes cannot become a frame within `limits`.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Item, usize)>, FrameError> {
    // Heart-beats: EOLs between frames.
    match buf.first() {
        None => return Ok(None),
        Some(b'\n') => return Ok(Some((Item::Heartbeat, 1))),
        Some(b'\r') => {
            return match buf.get(1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some((Item::Heartbeat, 2))),
                Some(_) => Err(FrameError::new(
                    "a carriage return not followed by a line feed",
                )),
            }
        }
        Some(_) => {}
    }
    let too_long = |n: usize| n > limits.max_header_line;
    let Some((command_line, mut at)) = line(buf, 0) else {
        if too_long(buf.len()) {
            return Err(FrameError::new("the command line is longer than the limit"));
        }
        return Ok(None);
    };
    let command_text = std::str::from_utf8(command_line)
        .map_err(|_| FrameError::new("the command is not UTF-8"))?;
    let command = Command::parse(command_text).ok_or_else(|| {
        FrameError::new(format!(
            "unknown command `{}`",
            command_text.chars().take(40).collect::<String>()
        ))
    })?;
    let mut headers = Vec::new();
    loop {
        let Some((raw, next)) = line(buf, at) else {
            if too_long(buf.len() - at) {
                return Err(FrameError::new("a header line is longer than the limit"));
            }
            if buf.len() > limits.max_frame {
                return Err(FrameError::new("the frame is larger than the limit"));
            }
            return Ok(None);
        };
        at = next;
        if raw.is_empty() {
            break;
        }
        if too_long(raw.len()) {
            return Err(FrameError::new("a header line is longer than the limit"));
        }
        if headers.len() == limits.max_headers {
            return Err(FrameError::new(format!(
                "more than {} headers",
                limits.max_headers
            )));
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| FrameError::new("a header is not UTF-8"))?;
        let (name, value) = text.split_once(':').ok_or_else(|| {
            FrameError::new(format!("header line without `:` in a {command} frame"))
        })?;
        let (name, value) = if command.escapes_headers() {
            (
                unescape(name, "a header name")?,
                unescape(value, "a header value")?,
            )
        } else {
            (name.to_owned(), value.to_owned())
        };
        headers.push((name, value));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| FrameError::new(format!("content-length `{v}` is not a number")))
        })
        .transpose()?;
    let (body_end, frame_end) =
        match length {
            Some(n) => {
                if at.saturating_add(n) > limits.max_frame {
                    return Err(FrameError::new(format!(
                        "content-length {n} is larger than the limit of {} bytes",
                        limits.max_frame
                    )));
                }
                let end = at + n;
                match buf.get(end) {
                    None => return Ok(None),
                    Some(0) => (end, end + 1),
                    Some(_) => return Err(FrameError::new(
                        "the body is not followed by a NUL byte where content-length says it ends",
                    )),
                }
            }
            None => match buf[at..].iter().position(|&b| b == 0) {
                Some(rel) => (at + rel, at + rel + 1),
                None => {
                    if buf.len() > limits.max_frame {
                        return Err(FrameError::new("the frame is larger than the limit"));
                    }
                    return Ok(None);
                }
            },
        };
    let frame = Frame {
        command,
        headers,
        body: buf[at..body_end].to_vec(),
    };
    Ok(Some((Item::Frame(frame), frame_end)))
}

/// Appends the wire form of `frame` to `out`, with `content-length` when the body holds a NUL
/// byte (where it is required). Other bodies end at the frame's NUL: RabbitMQ copies a
/// `content-length` header into the AMQP message's headers, where AMQP consumers would see it.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    out.extend_from_slice(frame.command.as_str().as_bytes());
    out.push(b'\n');
    let escaped = frame.command.escapes_headers();
    let mut has_length = false;
    for (name, value) in &frame.headers {
        has_length |= name == "content-length";
        if escaped {
            escape(name, out);
            out.push(b':');
            escape(value, out);
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'\n');
    }
    if !has_length && frame.body.contains(&0) {
        out.extend_from_slice(format!("content-length:{}\n", frame.body.len()).as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(&frame.body);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<(Item, usize)>, FrameError> {
        decode(bytes, &Limits::default())
    }

    fn frame(bytes: &[u8]) -> Frame {
        match one(bytes).unwrap() {
            Some((Item::Frame(f), used)) => {
                assert_eq!(used, bytes.len());
                f
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trip_with_escapes_and_nul_bytes_in_the_body() {
        let f = Frame::new(Command::Send)
            .header_pair("destination", "/exchange/media/video")
            .header_pair("x-note", "a:b\\c\nd\re")
            .with_body(b"bin\0ary".to_vec());
        let mut out = Vec::new();
        encode(&f, &mut out);
        assert!(out.windows(4).any(|w| w == b"a\\cb"));
        let back = frame(&out);
        assert_eq!(back.header("x-note"), Some("a:b\\c\nd\re"));
        assert_eq!(back.body, b"bin\0ary");
        assert_eq!(back.header("content-length"), Some("7"));
        let mut plain = Vec::new();
        encode(
            &Frame::new(Command::Send).with_body(b"{}".to_vec()),
            &mut plain,
        );
        assert_eq!(
            plain, b"SEND\n\n{}\0",
            "no NUL in the body, no content-length"
        );
    }

    #[test]
    fn connect_headers_are_not_escaped() {
        let f = frame(b"CONNECTED\nversion:1.2\nserver:RabbitMQ/3.10.8\nsession:a\\b\n\n\0");
        assert_eq!(f.header("session"), Some("a\\b"));
        assert_eq!(f.header("server"), Some("RabbitMQ/3.10.8"));
    }

    #[test]
    fn crlf_lines_heartbeats_and_repeated_headers() {
        let bytes = b"\n\r\nMESSAGE\r\nfoo:first\r\nfoo:second\r\n\r\nhi\0";
        let limits = Limits::default();
        assert_eq!(decode(bytes, &limits).unwrap(), Some((Item::Heartbeat, 1)));
        assert_eq!(
            decode(&bytes[1..], &limits).unwrap(),
            Some((Item::Heartbeat, 2))
        );
        let f = frame(&bytes[3..]);
        assert_eq!(f.header("foo"), Some("first"));
        assert_eq!(f.body, b"hi");
    }

    #[test]
    fn partial_frames_ask_for_more() {
        let mut whole = Vec::new();
        encode(
            &Frame::new(Command::Message)
                .header_pair("a", "b")
                .with_body(b"xyz".to_vec()),
            &mut whole,
        );
        for cut in 0..whole.len() {
            assert_eq!(one(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(one(&whole).unwrap().is_some());
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        let bad: &[(&[u8], &str)] = &[
            (b"SEND\nkey:a\\tb\n\n\0", "undefined escape"),
            (b"SEND\nkey:ab\\\n\n\0", "lone"),
            (b"SEND\nno colon here\n\n\0", "without `:`"),
            (b"DESTROY\n\n\0", "unknown command"),
            (b"SEND\ncontent-length:3\n\nabcd\0", "not followed by a NUL"),
            (b"SEND\ncontent-length:-1\n\n\0", "not a number"),
            (b"\rx", "carriage return"),
            (b"SEND\nk:\xff\n\n\0", "not UTF-8"),
        ];
        for (bytes, expected) in bad {
            let err = one(bytes).unwrap_err().to_string();
            assert!(err.contains(expected), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn limits_bound_what_is_buffered() {
        let limits = Limits {
            max_frame: 64,
            max_headers: 2,
            max_header_line: 16,
        };
        let roomy = Limits {
            max_header_line: 64,
            ..limits
        };
        let err = decode(b"SEND\ncontent-length:1000\n\n", &roomy).unwrap_err();
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        let err = decode(b"SEND\na:1\nb:2\nc:3\n\n\0", &limits).unwrap_err();
        assert!(err.to_string().contains("more than 2 headers"), "{err}");
        let err = decode(b"SEND\nname:aaaaaaaaaaaaaaaaaaaaaaaa\n\n\0", &limits).unwrap_err();
        assert!(err.to_string().contains("longer than the limit"), "{err}");
        // Without a NUL, a body without content-length cannot grow past the frame limit.
        let endless = [b"SEND\n\n".as_slice(), &[b'x'; 100]].concat();
        let err = decode(&endless, &limits).unwrap_err();
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        // A command line that never ends.
        let err = decode(&[b'S'; 40], &limits).unwrap_err();
        assert!(err.to_string().contains("command line"), "{err}");
    }
}
