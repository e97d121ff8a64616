//! Broker URLs: [`BrokerUrl`], parsed the way Python kombu reads them.
//!
//! `amqp://user:pass@host:port/vhost?heartbeat=10`. User and password are percent-decoded;
//! `amqp://host`, `amqp://host/` and `amqp://host//` all mean the vhost `/`, and `%2f` decodes to
//! `/`. Defaults: guest/guest, `localhost`, port 5672 (5671 for `amqps`, 61613 for `stomp`).
//! `memory://NAME` names an isolated in-process broker. Several URLs joined by `;` are failover
//! alternates ([`BrokerUrl::parse_many`]). The password never appears in `Display` or `Debug`;
//! [`BrokerUrl::to_uri_with_password`] writes a URL that parses back to the same value.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::error::{Error, Result};
use crate::suggest::did_you_mean;

/// Which transport a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// AMQP 0-9-1 over TCP.
    Amqp,
    /// AMQP 0-9-1 over TLS.
    Amqps,
    /// The in-process broker.
    Memory,
    /// STOMP 1.2.
    Stomp,
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Amqp => "amqp",
            Scheme::Amqps => "amqps",
            Scheme::Memory => "memory",
            Scheme::Stomp => "stomp",
        }
    }

    /// The port used when the URL gives none (0 for `memory`).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Amqp => 5672,
            Scheme::Amqps => 5671,
            Scheme::Memory => 0,
            Scheme::Stomp => 61613,
        }
    }
}

/// Connection options given as URL query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlOptions {
    /// `heartbeat`: seconds between heartbeats; 0 disables them.
    pub heartbeat: Option<Duration>,
    /// `connection_timeout` (alias `connect_timeout`): seconds to wait for the connection.
    pub connection_timeout: Option<Duration>,
    /// `frame_max`: the largest frame in bytes (at least 4096).
    pub frame_max: Option<u32>,
    /// `channel_max`: the most channels on the connection.
    pub channel_max: Option<u16>,
    /// `connection_name`: shown in the broker's management UI.
    pub connection_name: Option<String>,
}

const OPTION_KEYS: [&str; 6] = [
    "heartbeat",
    "connection_timeout",
    "connect_timeout",
    "frame_max",
    "channel_max",
    "connection_name",
];

/// A parsed broker URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerUrl {
    /// The transport.
    pub scheme: Scheme,
    /// Host name (for `memory://`, the broker's name; empty is the shared default broker).
    pub host: String,
    /// Port (the scheme's default when not given).
    pub port: u16,
    /// User name (`guest` by default).
    pub userid: String,
    password: String,
    /// Virtual host (`/` by default).
    pub virtual_host: String,
    /// Query-string options.
    pub options: UrlOptions,
}

impl BrokerUrl {
    /// Parse one URL.
    pub fn parse(url: &str) -> Result<Self> {
        let text = url.trim();
        let (scheme_text, rest) = text.split_once("://").ok_or_else(|| {
            Error::invalid_url(format!(
                "`{}` has no scheme; expected amqp://, amqps://, memory:// or stomp://",
                redact_raw(text)
            ))
        })?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "amqp" | "pyamqp" => Scheme::Amqp,
            "amqps" => Scheme::Amqps,
            "memory" => Scheme::Memory,
            "stomp" => Scheme::Stomp,
            other => {
                return Err(Error::invalid_url(format!(
                    "unknown scheme `{other}` (known: amqp, amqps, memory, stomp)"
                )))
            }
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (userid, password) = match userinfo {
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                (
                    Some(decode(user, "user name")?),
                    userinfo
                        .filter(|i| i.contains(':'))
                        .map(|_| {
                            // Never echoed: it is a password.
                            percent_decode_str(pass)
                                .decode_utf8()
                                .map(|p| p.into_owned())
                                .map_err(|_| {
                                    Error::invalid_url(
                                        "the password is not valid percent-encoded UTF-8",
                                    )
                                })
                        })
                        .transpose()?,
                )
            }
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let host = decode(host, "host")?;
        let virtual_host = match path {
            None | Some("") | Some("/") => "/".to_owned(),
            Some(p) => decode(&p[1..], "virtual host")?,
        };
        Ok(BrokerUrl {
            scheme,
            host: if host.is_empty() && scheme != Scheme::Memory {
                "localhost".to_owned()
            } else {
                host
            },
            port: port.unwrap_or(scheme.default_port()),
            userid: userid
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "guest".into()),
            password: password.unwrap_or_else(|| "guest".into()),
            virtual_host,
            options: parse_options(query)?,
        })
    }

    /// Parse `;`-separated failover alternates (at least one).
    pub fn parse_many(urls: &str) -> Result<Vec<Self>> {
        let list = urls
            .split(';')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(BrokerUrl::parse)
            .collect::<Result<Vec<_>>>()?;
        if list.is_empty() {
            return Err(Error::invalid_url("no broker URL given"));
        }
        Ok(list)
    }

    /// The password (never shown by `Display`/`Debug`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Replace the password.
    pub fn set_password(&mut self, password: impl Into<String>) {
        self.password = password.into();
    }

    /// The URL with the password in clear, for handing to a transport. It parses back to
    /// this same URL, options included: every character the syntax gives a meaning to is
    /// percent-encoded, and a host with a `:` (IPv6) is written in brackets. (A user name,
    /// virtual host or non-`memory` host that is empty cannot be written: parsing reads
    /// those as the defaults.)
    pub fn to_uri_with_password(&self) -> String {
        self.render(true)
    }

    fn render(&self, show_password: bool) -> String {
        let mut out = format!("{}://", self.scheme.as_str());
        let memory = self.scheme == Scheme::Memory;
        // `memory://NAME` stays that short when nothing else was given.
        if !(memory && self.userid == "guest" && self.password == "guest") {
            out.push_str(&encoded(&self.userid, COMPONENT));
            out.push(':');
            if show_password {
                out.push_str(&encoded(&self.password, COMPONENT));
            } else {
                out.push_str("**");
            }
            out.push('@');
        }
        if self.host.contains(':') {
            out.push('[');
            out.push_str(&encoded(&self.host, IN_BRACKETS));
            out.push(']');
        } else {
            out.push_str(&encoded(&self.host, COMPONENT));
        }
        if !(memory && self.port == 0) {
            out.push_str(&format!(":{}", self.port));
        }
        if !(memory && self.virtual_host == "/") {
            out.push('/');
            if self.virtual_host == "/" {
                out.push('/');
            } else {
                out.push_str(&encoded(&self.virtual_host, COMPONENT));
            }
        }
        let o = &self.options;
        let mut query = Vec::new();
        if let Some(d) = o.heartbeat {
            query.push(format!("heartbeat={}", seconds_text(d)));
        }
        if let Some(d) = o.connection_timeout {
            query.push(format!("connection_timeout={}", seconds_text(d)));
        }
        if let Some(n) = o.frame_max {
            query.push(format!("frame_max={n}"));
        }
        if let Some(n) = o.channel_max {
            query.push(format!("channel_max={n}"));
        }
        if let Some(name) = &o.connection_name {
            query.push(format!("connection_name={}", encoded(name, COMPONENT)));
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        out
    }
}

/// What is percent-encoded in a user name, password, host, virtual host or option value:
/// everything the URL syntax (and `;` between failover URLs) gives a meaning to, spaces
/// (parsing trims) and control characters. Non-ASCII is always encoded.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b'@')
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b';')
    .add(b'&')
    .add(b'=')
    .add(b'[')
    .add(b']');

/// Inside the brackets of an IPv6 host, `:` stands for itself.
const IN_BRACKETS: &AsciiSet = &COMPONENT.remove(b':');

fn encoded(text: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(text, set).to_string()
}

/// Seconds as exact decimal text (`2.5`, `0.000000001`), which [`parse_seconds`] reads back
/// to the same duration.
fn seconds_text(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        d.as_secs().to_string()
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}", d.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// Seconds as Python kombu writes them: decimal text is read exactly (to the nanosecond),
/// anything else a float understands (`1e3`) through a float.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && (fraction.is_empty() || digits(fraction)) && fraction.len() <= 9 {
        let secs = whole.parse::<u64>().ok()?;
        let nanos = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<9}").parse::<u32>().ok()?
        };
        return Some(Duration::new(secs, nanos));
    }
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

impl FromStr for BrokerUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BrokerUrl::parse(s)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("userid", &self.userid)
            .field("password", &"**")
            .field("virtual_host", &self.virtual_host)
            .field("options", &self.options)
            .finish()
    }
}

/// A URL for an error message, with any password replaced.
fn redact_raw(text: &str) -> String {
    let start = text.find("://").map_or(0, |s| s + 3);
    match text.rfind('@') {
        Some(at) if at > start => match text[start..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:**{}", &text[..start], &text[at..]),
            None => text.to_owned(),
        },
        _ => text.to_owned(),
    }
}

fn decode(text: &str, what: &str) -> Result<String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Error::invalid_url(format!(
                "{what} `{text}` is not valid percent-encoded UTF-8"
            ))
        })
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| Error::invalid_url(format!("unclosed `[` in host `{hostport}`")))?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => {
                return Err(Error::invalid_url(format!(
                    "unexpected `{after}` after host `{hostport}`"
                )))
            }
        };
        (&rest[..end], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| {
            // Shown only when it is digits: a password with an unencoded `/` ends the
            // authority early and its tail reads as a port here.
            if p.bytes().all(|b| b.is_ascii_digit()) {
                Error::invalid_url(format!("port `{p}` is not a number from 1 to 65535"))
            } else {
                Error::invalid_url(
                    "the port is not a number from 1 to 65535 (a `/` in a password must be \
                     written %2F)",
                )
            }
        })?),
    };
    Ok((host, port))
}

fn parse_options(query: Option<&str>) -> Result<UrlOptions> {
    let mut options = UrlOptions::default();
    let Some(query) = query else {
        return Ok(options);
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key, "option name")?;
        let value = decode(value, "option value")?;
        let bad = |expected: &str| {
            Error::invalid_url(format!("option `{key}={value}`: expected {expected}"))
        };
        let seconds =
            |v: &str| parse_seconds(v).ok_or_else(|| bad("a non-negative number of seconds"));
        match key.as_str() {
            "heartbeat" => {
                let secs: u16 = value
                    .parse()
                    .map_err(|_| bad("whole seconds from 0 to 65535"))?;
                options.heartbeat = Some(Duration::from_secs(secs.into()));
            }
            "connection_timeout" | "connect_timeout" => {
                options.connection_timeout = Some(seconds(&value)?);
            }
            "frame_max" => {
                let n: u32 = value
                    .parse()
                    .ok()
                    .filter(|&n| n >= 4096)
                    .ok_or_else(|| bad("a number of bytes of at least 4096"))?;
                options.frame_max = Some(n);
            }
            "channel_max" => {
                options.channel_max =
                    Some(value.parse().map_err(|_| bad("a number from 0 to 65535"))?);
            }
            "connection_name" => options.connection_name = Some(value),
            other => {
                let hint = did_you_mean(other, OPTION_KEYS)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                return Err(Error::invalid_url(format!(
                    "unknown URL option `{other}`{hint} (known: {})",
                    OPTION_KEYS.join(", ")
                )));
            }
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (Scheme, String, u16, String, String, String) {
        let u = BrokerUrl::parse(url).unwrap();
        let password = u.password().to_owned();
        (u.scheme, u.host, u.port, u.userid, password, u.virtual_host)
    }

    #[test]
    fn parses_as_python_kombu_does() {
        let s = |x: &str| x.to_owned();
        let table = [
            (
                "amqp://host",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/"),
                ),
            ),
            (
                "amqp://host/",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/"),
                ),
            ),
            (
                "amqp://host//",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/"),
                ),
            ),
            (
                "amqp://u:p@host:1234/%2f",
                (Scheme::Amqp, s("host"), 1234, s("u"), s("p"), s("/")),
            ),
            (
                "amqp://host/foo",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("foo"),
                ),
            ),
            (
                "amqp://host//foo",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/foo"),
                ),
            ),
            (
                "amqp://host/foo/bar",
                (
                    Scheme::Amqp,
                    s("host"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("foo/bar"),
                ),
            ),
            (
                "amqp://h/%2Ffoo",
                (
                    Scheme::Amqp,
                    s("h"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/foo"),
                ),
            ),
            (
                "amqp://u%40x:p%3Aw@h/v%2Fx",
                (Scheme::Amqp, s("h"), 5672, s("u@x"), s("p:w"), s("v/x")),
            ),
            (
                "amqp://",
                (
                    Scheme::Amqp,
                    s("localhost"),
                    5672,
                    s("guest"),
                    s("guest"),
                    s("/"),
                ),
            ),
            (
                "amqps://h",
                (Scheme::Amqps, s("h"), 5671, s("guest"), s("guest"), s("/")),
            ),
            (
                "stomp://h",
                (Scheme::Stomp, s("h"), 61613, s("guest"), s("guest"), s("/")),
            ),
            (
                "memory://",
                (Scheme::Memory, s(""), 0, s("guest"), s("guest"), s("/")),
            ),
            (
                "memory://tests-1",
                (
                    Scheme::Memory,
                    s("tests-1"),
                    0,
                    s("guest"),
                    s("guest"),
                    s("/"),
                ),
            ),
            (
                "amqp://[::1]:5673/",
                (Scheme::Amqp, s("::1"), 5673, s("guest"), s("guest"), s("/")),
            ),
            (
                "amqp://user@h",
                (Scheme::Amqp, s("h"), 5672, s("user"), s("guest"), s("/")),
            ),
        ];
        for (url, expected) in table {
            assert_eq!(parsed(url), expected, "{url}");
        }
    }

    #[test]
    fn options_are_typed() {
        let u = BrokerUrl::parse(
            "amqp://h/?heartbeat=10&connect_timeout=2.5&frame_max=131072&channel_max=64&connection_name=svc%20a",
        )
        .unwrap();
        assert_eq!(u.options.heartbeat, Some(Duration::from_secs(10)));
        assert_eq!(
            u.options.connection_timeout,
            Some(Duration::from_millis(2500))
        );
        assert_eq!(u.options.frame_max, Some(131072));
        assert_eq!(u.options.channel_max, Some(64));
        assert_eq!(u.options.connection_name.as_deref(), Some("svc a"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("amqp://h:99999", "port `99999`"),
            ("amqp://h:0", "port `0`"),
            ("amqp://h:abc", "the port is not a number"),
            ("ftp://h", "unknown scheme `ftp`"),
            ("localhost:5672", "has no scheme"),
            ("amqp://h/?hearbeat=5", "did you mean `heartbeat`"),
            ("amqp://h/?colour=red", "unknown URL option `colour`"),
            ("amqp://h/?heartbeat=-1", "heartbeat=-1"),
            ("amqp://h/?frame_max=10", "at least 4096"),
            ("amqp://[::1/", "unclosed"),
        ];
        for (url, needle) in cases {
            let err = BrokerUrl::parse(url).unwrap_err();
            assert!(err.is_invalid_url(), "{url}");
            assert!(err.to_string().contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn failover_alternates_split_on_semicolons() {
        let urls = BrokerUrl::parse_many("amqp://a;amqp://u:p@b:5673//; memory://x").unwrap();
        let hosts: Vec<_> = urls.iter().map(|u| (u.host.as_str(), u.port)).collect();
        assert_eq!(hosts, [("a", 5672), ("b", 5673), ("x", 0)]);
        assert!(BrokerUrl::parse_many(" ; ").is_err());
        assert!(BrokerUrl::parse_many("amqp://a;bogus").is_err());
    }

    #[test]
    fn the_password_is_never_shown() {
        let u = BrokerUrl::parse("amqp://admin:s3cr%40t@rabbit:5672/prod").unwrap();
        assert_eq!(u.password(), "s3cr@t");
        assert_eq!(u.to_string(), "amqp://admin:**@rabbit:5672/prod");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(
            BrokerUrl::parse("amqp://h").unwrap().to_string(),
            "amqp://guest:**@h:5672//"
        );
        assert_eq!(
            u.to_uri_with_password(),
            "amqp://admin:s3cr%40t@rabbit:5672/prod"
        );
        let err = BrokerUrl::parse("rabbit:secret@host")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn rendering_round_trips() {
        for url in [
            "amqp://u:p@h:1/v%2Fx",
            "amqp://u:p@h:1//",
            "amqps://a%40b:c@h:5671/x",
        ] {
            let u = BrokerUrl::parse(url).unwrap();
            assert_eq!(
                BrokerUrl::parse(&u.to_uri_with_password()).unwrap(),
                u,
                "{url}"
            );
        }
    }
    #[test]
    fn options_and_awkward_hosts_survive_rendering() {
        for url in [
            "amqp://u:p@h:1/v?heartbeat=10&connection_timeout=2.5&frame_max=131072&channel_max=64&connection_name=svc%20a%26b",
            "amqp://u:p@a%2Fb:1//",
            "amqp://u:p@%5B::1%5D:1//",
            "stomp://u:p@[fe80::1%25eth0]:61614/x",
            "amqp://u:p@h:1/v?connection_timeout=0.000000001",
            "memory://name?heartbeat=3",
            "memory://u:p@name/v",
        ] {
            let u = BrokerUrl::parse(url).unwrap();
            assert_eq!(
                BrokerUrl::parse(&u.to_uri_with_password()).unwrap(),
                u,
                "{url} rendered as {}",
                u.to_uri_with_password()
            );
        }
    }

    #[test]
    fn a_password_that_is_not_valid_percent_encoding_is_not_echoed() {
        let err = BrokerUrl::parse("amqp://u:s3cr%ff@h/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr"), "{err}");
        // An unencoded `/` in the password cuts the authority short: the password looks like
        // a port, and the error must not show it either.
        let err = BrokerUrl::parse("amqp://u:s3cr/t@h/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr"), "{err}");
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        /// Text with everything the URL syntax gives a meaning to, escapes, spaces, control
        /// and non-ASCII characters (but no snowman: that marks passwords).
        fn text(min: usize) -> impl Strategy<Value = String> {
            proptest::string::string_regex(&format!(
                "[a-zA-Z0-9 :/@?#%;&=+.,!~*'()\\[\\]_\\-\\t\\nÿé日本]{{{min},10}}"
            ))
            .unwrap_or_else(|e| panic!("{e}"))
        }

        fn duration() -> impl Strategy<Value = Duration> {
            (0u64..1 << 40, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n))
        }

        fn options() -> impl Strategy<Value = UrlOptions> {
            (
                proptest::option::of(0u64..=65535),
                proptest::option::of(duration()),
                proptest::option::of(4096u32..),
                proptest::option::of(any::<u16>()),
                proptest::option::of(text(0)),
            )
                .prop_map(
                    |(heartbeat, connection_timeout, frame_max, channel_max, connection_name)| {
                        UrlOptions {
                            heartbeat: heartbeat.map(Duration::from_secs),
                            connection_timeout,
                            frame_max,
                            channel_max,
                            connection_name,
                        }
                    },
                )
        }

        /// Any URL `parse` can return: a user name, a host (but for `memory`), a port (0 only
        /// for `memory`) and a virtual host are never empty, as parsing fills in defaults.
        fn url() -> impl Strategy<Value = BrokerUrl> {
            (
                prop_oneof![
                    Just(Scheme::Amqp),
                    Just(Scheme::Amqps),
                    Just(Scheme::Stomp),
                    Just(Scheme::Memory)
                ],
                text(1),
                text(0).prop_map(|p| format!("\u{2603}{p}")),
                text(0),
                1u16..,
                text(1),
                options(),
            )
                .prop_map(
                    |(scheme, userid, password, host, port, virtual_host, options)| {
                        let memory = scheme == Scheme::Memory;
                        BrokerUrl {
                            scheme,
                            host: if host.is_empty() && !memory {
                                "h".to_owned()
                            } else {
                                host
                            },
                            port: if memory && port % 2 == 0 { 0 } else { port },
                            userid,
                            password,
                            virtual_host,
                            options,
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn the_uri_with_password_parses_back_to_the_same_url(u in url()) {
                let written = u.to_uri_with_password();
                let back = BrokerUrl::parse(&written);
                prop_assert!(back.is_ok(), "{written}: {back:?}");
                prop_assert_eq!(back.unwrap(), u, "{}", written);
            }

            #[test]
            fn the_redacted_form_is_the_same_url_without_the_password(u in url()) {
                let shown = u.to_string();
                let debug = format!("{u:?}");
                for text in [&shown, &debug] {
                    prop_assert!(!text.contains('\u{2603}') && !text.contains("%E2%98%83"), "{}", text);
                }
                let mut expected = u.clone();
                expected.set_password("**");
                prop_assert_eq!(BrokerUrl::parse(&shown).unwrap(), expected, "{}", shown);
            }
        }
    }
}
