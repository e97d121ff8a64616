//! STOMP 1.2 frames: decoding from a byte buffer and encoding into one.
//!
//! A frame is a command line, header lines (`name:value`), a blank line, a body and a NUL byte.
//! Lines end in `\n` or `\r\n`. Header names and values are escaped (`\\`, `\n`, `\r`, `\c` for
//! `:`) in every frame but `CONNECT` and `CONNECTED`; an undefined escape is an error. A body is
//! read up to `content-length` bytes (so it may contain NULs) or else up to the first NUL. A
//! lone EOL between frames is a heart-beat. Repeated headers: the first one counts. Limits on
//! the frame size, the number of headers and the length of a header line keep a hostile peer
//! from making us buffer without end. A [`Decoder`] reads a stream that arrives in pieces and
//! resumes where it stopped, so a frame that trickles in (or never ends) costs one look per
//! byte, not one per byte per read.

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

/// How far the item at the front of the buffer has been read, in offsets from its start.
#[derive(Debug)]
enum Progress {
    /// Looking for the end of the command line; `searched` bytes have been looked at.
    Command { searched: usize },
    /// Reading headers: the next line starts at `line`, and `searched` bytes of it have been
    /// looked at.
    Headers {
        command: Command,
        headers: Vec<(String, String)>,
        line: usize,
        searched: usize,
    },
    /// Reading the body, which starts at `body`: `length` bytes, or up to a NUL of which
    /// `searched` bytes have been looked at.
    Body {
        command: Command,
        headers: Vec<(String, String)>,
        body: usize,
        length: Option<usize>,
        searched: usize,
    },
}

/// Decodes a byte stream that arrives in pieces, looking at each byte about once: an item
/// cut across reads resumes where the last call stopped, and consumed bytes are dropped
/// from the buffer in bulk, not frame by frame. A frame past [`Limits::max_frame`] is an
/// error as soon as more than the limit has arrived, so a peer that never ends a frame
/// costs at most the limit.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    buf: Vec<u8>,
    /// Where the item being read starts in `buf`; what is before it is consumed.
    start: usize,
    progress: Progress,
    scanned: u64,
}

impl Decoder {
    /// A decoder for what a peer sends, within `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            buf: Vec::new(),
            start: 0,
            progress: Progress::Command { searched: 0 },
            scanned: 0,
        }
    }

    /// Adds bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        // Drop the consumed prefix once it is at least as long as what is kept, so moving
        // the rest costs no more than the bytes already read past.
        if self.start > 0 && self.start >= self.buf.len() - self.start {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// How many bytes the decoder has examined so far (searching for line ends and NULs, and
    /// reading header lines): about one per byte received.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Bytes held for the item not yet whole.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole item, `Ok(None)` when more bytes are needed, or an error when the bytes
    /// cannot become a frame within the limits (the stream is then unusable).
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        let limits = self.limits;
        loop {
            let item = &self.buf[self.start..];
            match &mut self.progress {
                Progress::Command { searched } => {
                    if *searched == 0 {
                        match item {
                            [] => return Ok(None),
                            [b'\n', ..] => return Ok(Some(self.consume(1, Item::Heartbeat))),
                            [b'\r'] => return Ok(None),
                            [b'\r', b'\n', ..] => {
                                return Ok(Some(self.consume(2, Item::Heartbeat)))
                            }
                            [b'\r', ..] => {
                                return Err(FrameError::new(
                                    "a carriage return not followed by a line feed",
                                ))
                            }
                            _ => {}
                        }
                    }
                    // Each limit holds however the bytes arrive: checked while the end of what
                    // it bounds is missing, and again once it is found (a line may end in CR,
                    // which does not count).
                    let Some(end) = find(item, *searched, b'\n', &mut self.scanned) else {
                        *searched = item.len();
                        if item.len() > limits.max_header_line + 1 {
                            return Err(FrameError::new(
                                "the command line is longer than the limit",
                            ));
                        }
                        return Ok(None);
                    };
                    let line = trim_cr(&item[..end]);
                    if line.len() > limits.max_header_line {
                        return Err(FrameError::new("the command line is longer than the limit"));
                    }
                    let command = parse_command(line)?;
                    self.progress = Progress::Headers {
                        command,
                        headers: Vec::new(),
                        line: end + 1,
                        searched: 0,
                    };
                }
                Progress::Headers {
                    command,
                    headers,
                    line,
                    searched,
                } => {
                    let Some(end) = find(item, *line + *searched, b'\n', &mut self.scanned) else {
                        *searched = item.len() - *line;
                        if *searched > limits.max_header_line + 1 {
                            return Err(FrameError::new("a header line is longer than the limit"));
                        }
                        if item.len() > limits.max_frame {
                            return Err(too_large(limits.max_frame));
                        }
                        return Ok(None);
                    };
                    if end > limits.max_frame {
                        return Err(too_large(limits.max_frame));
                    }
                    let raw = trim_cr(&item[*line..end]);
                    self.scanned += raw.len() as u64;
                    if raw.is_empty() {
                        let headers = std::mem::take(headers);
                        let command = *command;
                        let length = content_length(&headers)?;
                        let body = end + 1;
                        if let Some(n) = length {
                            if body.saturating_add(n) > limits.max_frame {
                                return Err(FrameError::new(format!(
                                    "content-length {n} is larger than the limit of {} bytes",
                                    limits.max_frame
                                )));
                            }
                        }
                        self.progress = Progress::Body {
                            command,
                            headers,
                            body,
                            length,
                            searched: 0,
                        };
                        continue;
                    }
                    if raw.len() > limits.max_header_line {
                        return Err(FrameError::new("a header line is longer than the limit"));
                    }
                    if headers.len() == limits.max_headers {
                        return Err(FrameError::new(format!(
                            "more than {} headers",
                            limits.max_headers
                        )));
                    }
                    headers.push(parse_header(*command, raw)?);
                    *line = end + 1;
                    *searched = 0;
                }
                Progress::Body {
                    body,
                    length,
                    searched,
                    ..
                } => {
                    let (body, body_end) = match *length {
                        Some(n) => {
                            let end = *body + n;
                            match item.get(end) {
                                None => return Ok(None),
                                Some(0) => (*body, end),
                                Some(_) => return Err(FrameError::new(
                                    "the body is not followed by a NUL byte where content-length says it ends",
                                )),
                            }
                        }
                        None => match find(item, *body + *searched, 0, &mut self.scanned) {
                            Some(end) if end > limits.max_frame => {
                                return Err(too_large(limits.max_frame))
                            }
                            Some(end) => (*body, end),
                            None => {
                                *searched = item.len() - *body;
                                if item.len() > limits.max_frame {
                                    return Err(too_large(limits.max_frame));
                                }
                                return Ok(None);
                            }
                        },
                    };
                    let bytes = item[body..body_end].to_vec();
                    let Progress::Body {
                        command, headers, ..
                    } = std::mem::replace(&mut self.progress, Progress::Command { searched: 0 })
                    else {
                        return Err(FrameError::new("the decoder lost its place"));
                    };
                    let frame = Frame {
                        command,
                        headers,
                        body: bytes,
                    };
                    return Ok(Some(self.consume(body_end + 1, Item::Frame(frame))));
                }
            }
        }
    }

    /// Marks `used` bytes of the front item consumed and starts on the next.
    fn consume(&mut self, used: usize, item: Item) -> Item {
        self.start += used;
        self.progress = Progress::Command { searched: 0 };
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        item
    }
}

/// The first `byte` in `item` at or after `from`, counting what is looked at.
fn find(item: &[u8], from: usize, byte: u8, scanned: &mut u64) -> Option<usize> {
    let rest = item.get(from..)?;
    let found = rest.iter().position(|&b| b == byte);
    *scanned += found.map_or(rest.len(), |i| i + 1) as u64;
    found.map(|i| from + i)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn too_large(limit: usize) -> FrameError {
    FrameError::new(format!(
        "the frame is larger than the limit of {limit} bytes"
    ))
}

fn parse_command(line: &[u8]) -> Result<Command, FrameError> {
    let text =
        std::str::from_utf8(line).map_err(|_| FrameError::new("the command is not UTF-8"))?;
    Command::parse(text).ok_or_else(|| {
        FrameError::new(format!(
            "unknown command `{}`",
            text.chars().take(40).collect::<String>()
        ))
    })
}

fn parse_header(command: Command, raw: &[u8]) -> Result<(String, String), FrameError> {
    let text = std::str::from_utf8(raw).map_err(|_| FrameError::new("a header is not UTF-8"))?;
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| FrameError::new(format!("header line without `:` in a {command} frame")))?;
    if command.escapes_headers() {
        Ok((
            unescape(name, "a header name")?,
            unescape(value, "a header value")?,
        ))
    } else {
        Ok((name.to_owned(), value.to_owned()))
    }
}

/// The body length a frame's first `content-length` header gives, if any.
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, FrameError> {
    headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| FrameError::new(format!("content-length `{v}` is not a number")))
        })
        .transpose()
}

/// Decodes the item at the front of `buf`: `Ok(Some((item, bytes used)))`, `Ok(None)` when
/// more bytes are needed, or an error when the bytes cannot become a frame within `limits`.
/// For a whole buffer at hand; a stream read in pieces wants a [`Decoder`], which does not
/// look at the same bytes again on every read.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Item, usize)>, FrameError> {
    let mut decoder = Decoder::new(*limits);
    decoder.push(buf);
    Ok(decoder.next_item()?.map(|item| {
        let used = buf.len() - decoder.buffered();
        (item, used)
    }))
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
    /// Feeds `bytes` in pieces of `piece` bytes and returns the items and the decoder.
    fn fed(bytes: &[u8], piece: usize, limits: Limits) -> (Vec<Item>, Decoder) {
        let mut d = Decoder::new(limits);
        let mut items = Vec::new();
        for chunk in bytes.chunks(piece) {
            d.push(chunk);
            while let Some(item) = d.next_item().unwrap() {
                items.push(item);
            }
        }
        (items, d)
    }

    #[test]
    fn a_frame_fed_in_small_pieces_is_scanned_about_once() {
        let big = Frame::new(Command::Message)
            .header_pair("destination", "/queue/a")
            .header_pair("x-long", "y".repeat(20_000));
        let nul_body = [vec![0u8], vec![b'x'; 200_000]].concat();
        for (frame, decoded) in [
            // Found by its NUL.
            (
                big.clone().with_body(vec![b'x'; 200_000]),
                big.clone().with_body(vec![b'x'; 200_000]),
            ),
            // Read by its content-length (which encoding adds).
            (
                big.clone().with_body(nul_body.clone()),
                big.header_pair("content-length", "200001")
                    .with_body(nul_body),
            ),
        ] {
            let mut whole = Vec::new();
            encode(&frame, &mut whole);
            let (items, d) = fed(&whole, 7, Limits::default());
            assert!(
                items == [Item::Frame(decoded)],
                "the frame came back altered"
            );
            let len = whole.len() as u64;
            assert!(
                d.scanned() <= 2 * len,
                "{} bytes scanned for a {len}-byte frame",
                d.scanned()
            );
        }
    }

    #[test]
    fn many_frames_in_one_read_are_each_scanned_once() {
        let mut stream = Vec::new();
        for i in 0..5_000 {
            encode(
                &Frame::new(Command::Message).with_body(format!("message {i}")),
                &mut stream,
            );
            stream.push(b'\n');
        }
        let (items, d) = fed(&stream, stream.len(), Limits::default());
        assert_eq!(items.len(), 10_000);
        let len = stream.len() as u64;
        assert!(d.scanned() <= 2 * len, "{} scanned of {len}", d.scanned());
    }

    #[test]
    fn an_oversized_frame_is_refused_before_it_is_whole() {
        let limits = Limits {
            max_frame: 4096,
            ..Limits::default()
        };
        // No NUL and no content-length: refused once more than the limit is buffered.
        let mut d = Decoder::new(limits);
        d.push(b"MESSAGE\ndestination:/queue/a\n\n");
        let mut refused = None;
        for _ in 0..100 {
            d.push(&[b'x'; 100]);
            if let Err(e) = d.next_item() {
                refused = Some(e);
                break;
            }
        }
        let err = refused.expect("a frame past the limit was still buffered");
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        assert!(
            d.buffered() <= 4096 + 100,
            "{} bytes buffered",
            d.buffered()
        );
        // A content-length past the limit is refused as soon as the headers are read.
        let mut d = Decoder::new(limits);
        d.push(b"MESSAGE\ncontent-length:5000\n\n");
        let err = d.next_item().unwrap_err();
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        // Endless headers too.
        let mut d = Decoder::new(limits);
        d.push(b"MESSAGE\n");
        let mut refused = None;
        for i in 0..1000 {
            d.push(format!("h{i}:v\n").as_bytes());
            if let Err(e) = d.next_item() {
                refused = Some(e);
                break;
            }
        }
        let err = refused.expect("endless headers were still buffered");
        assert!(err.to_string().contains("larger than the limit"), "{err}");
    }
}
