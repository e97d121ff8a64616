//! Hostile topology files: alias bombs, nesting deep enough to overflow a stack, files large
//! enough to expose quadratic checks, and names and lines that would garble a terminal. Each
//! is refused (or checked) with a diagnostic at its place, never a crash, a hang or gigabytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "topology")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kombu::topology::{Code, Diagnostics, Format, SourceFile, Topology};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/topology/hostile")
        .join(name)
}

fn load(name: &str, format: Format, text: &str) -> Result<Topology, Diagnostics> {
    Topology::from_sources([SourceFile::new(name, format, text)])
}

/// The one error of a refused file, with its code.
fn only_error(result: Result<Topology, Diagnostics>) -> kombu::topology::Diagnostic {
    let d = match result {
        Ok(_) => panic!("the file loaded"),
        Err(d) => d,
    };
    let errors: Vec<_> = d.errors().cloned().collect();
    assert_eq!(errors.len(), 1, "{d}");
    errors.into_iter().next().unwrap()
}

fn place(d: &kombu::topology::Diagnostic) -> (u32, u32) {
    let loc = d
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("{d} has no place"));
    (loc.line, loc.column)
}

// ---------------------------------------------------------------------------------------------
// YAML aliases

#[test]
fn an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit() {
    let d = only_error(Topology::from_path(fixture("alias_bomb.yaml")));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    // a..e expand to about 75,000 nodes; the first `*e` of `f` crosses 100,000.
    assert_eq!(place(&d), (11, 14), "{d}");
    assert!(d.message.contains("alias `*e`"), "{d}");
    assert!(d.message.contains("100000"), "{d}");
}

/// Run by `an_alias_bomb_peaks_under_100_mb` in a process of its own, so that the peak it
/// reads is the bomb's and no other test's.
#[test]
#[ignore = "run in its own process by an_alias_bomb_peaks_under_100_mb"]
fn alias_bomb_in_a_fresh_process() {
    let d = Topology::from_path(fixture("alias_bomb.yaml")).unwrap_err();
    assert!(d.errors().any(|d| d.code == Code::LimitExceeded), "{d}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    println!("alias bomb peak memory: {peak_kb} kB");
}

#[test]
#[cfg(target_os = "linux")]
fn an_alias_bomb_peaks_under_100_mb() {
    // The child gets 2 GB of address space, so that a regression fails fast instead of
    // eating the machine (the unbounded expansion took 17 GB).
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "alias_bomb_in_a_fresh_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kb: u64 = stdout
        .split("alias bomb peak memory: ")
        .nth(1)
        .and_then(|v| v.split(" kB").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {stdout}"));
    println!("alias bomb peak memory: {peak_kb} kB");
    assert!(peak_kb < 100 * 1024, "peak {peak_kb} kB");
}

#[test]
fn aliases_cannot_nest_deeper_than_the_file_limit() {
    // 100 levels behind an anchor, used 100 levels down: 200 in all.
    let mut text = String::from("version: 1\nqueues:\n  q:\n    arguments:\n      deep: &deep ");
    text.push_str(&"[".repeat(100));
    text.push_str(&"]".repeat(100));
    text.push_str("\n      use: ");
    text.push_str(&"[".repeat(100));
    text.push_str("*deep");
    text.push_str(&"]".repeat(100));
    text.push('\n');
    let d = only_error(load("deep.yaml", Format::Yaml, &text));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert_eq!(place(&d), (6, 112), "{d}");
    assert!(d.message.contains("alias `*deep`"), "{d}");
}

#[test]
fn ordinary_aliases_still_work() {
    let mut text = String::from(
        "version: 1\nexchanges:\n  media: {type: topic}\nqueues:\n  q0: {bindings: [&binding {exchange: media, routing_key: \"#\"}]}\n",
    );
    for i in 1..2000 {
        writeln!(text, "  q{i}: {{bindings: [*binding]}}").unwrap();
    }
    let t = load("aliases.yaml", Format::Yaml, &text).unwrap();
    assert_eq!(t.model().queues.len(), 2000);
    assert_eq!(t.route("media", "any.key", None).len(), 2000);
}

// ---------------------------------------------------------------------------------------------
// Depth

fn nested(wrapper: &str, depth: usize) -> String {
    format!(
        "{}string{}",
        format!("{wrapper}<").repeat(depth),
        ">".repeat(depth)
    )
}

#[test]
fn a_type_nested_20000_deep_is_refused_at_the_field() {
    let text = format!(
        "version = 1\n\n[messages.m]\nfields.deep = \"{}\"\n",
        nested("optional", 20_000)
    );
    let d = only_error(load("deep.toml", Format::Toml, &text));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert_eq!(place(&d), (4, 15), "{d}");
    assert!(d.message.contains("64"), "{d}");
    // The message does not echo the 160,000-character type.
    assert!(d.to_string().len() < 1000, "{d}");
}

#[test]
fn a_list_type_nested_5000_deep_is_refused_at_the_field() {
    let text = format!(
        "version: 1\nmessages:\n  m:\n    fields:\n      deep: {}\n",
        nested("list", 5000)
    );
    let d = only_error(load("deep.yaml", Format::Yaml, &text));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert_eq!(place(&d), (5, 13), "{d}");
}

#[test]
fn types_up_to_64_deep_are_accepted() {
    let text = |depth| {
        format!(
            "version = 1\n\n[messages.m]\nfields.deep = \"{}\"\n",
            nested("map", depth)
        )
    };
    load("deep.toml", Format::Toml, &text(64)).unwrap();
    let d = only_error(load("deep.toml", Format::Toml, &text(65)));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
}

/// A table `depth` levels deep as indented YAML blocks, below `arguments` of queue `q`.
fn deep_arguments_yaml(depth: usize) -> String {
    let mut text = String::from("version: 1\nqueues:\n  q:\n    arguments:\n");
    for i in 0..depth {
        writeln!(text, "{}a:", " ".repeat(6 + i)).unwrap();
    }
    writeln!(text, "{}a: 1", " ".repeat(6 + depth)).unwrap();
    text
}

#[test]
fn an_arguments_table_5000_deep_is_refused_at_its_position() {
    let d = only_error(load("deep.yaml", Format::Yaml, &deep_arguments_yaml(5000)));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    // The root, `queues`, `q` and `arguments` are four levels (the last opens on line 5);
    // the 129th opens on line 130, indented 131.
    assert_eq!(place(&d), (130, 132), "{d}");
    assert!(d.message.contains("128"), "{d}");
}

#[test]
fn tables_up_to_the_limit_load() {
    // Root, queues, q, arguments: four levels, then 124 more in the arguments.
    let t = load("deep.yaml", Format::Yaml, &deep_arguments_yaml(124)).unwrap();
    assert_eq!(t.queues().len(), 1);
    let d = only_error(load("deep.yaml", Format::Yaml, &deep_arguments_yaml(125)));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
}

#[test]
fn nesting_100000_deep_is_an_error_in_every_format_not_a_stack_overflow() {
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);

    let prefix = "{\"version\": 1, \"queues\": {\"q\": {\"arguments\": {\"a\": ";
    let json = format!("{prefix}{open}{close}}}}}}}");
    let d = only_error(load("deep.json", Format::Json, &json));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    // The reader refuses flow nesting past 255 levels while reading ahead, before the 129th
    // level reaches the loader: the place is inside the nest, within the reader's reach.
    let (line, column) = place(&d);
    assert_eq!(line, 1);
    assert!(
        (prefix.len() as u32 + 125..=prefix.len() as u32 + 260).contains(&column),
        "{d}"
    );

    // Within the reader's limit, the loader refuses the 129th level where it opens.
    let json = format!("{prefix}{}{}}}}}}}}}", "[".repeat(200), "]".repeat(200));
    let d = only_error(load("deep.json", Format::Json, &json));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert_eq!(place(&d), (1, prefix.len() as u32 + 125), "{d}");

    let objects = format!("{}1{}", "{\"a\": ".repeat(100_000), "}".repeat(100_000));
    let d = only_error(load("deep.json", Format::Json, &objects));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");

    let yaml = format!("version: 1\nx: {open}{close}\n");
    let d = only_error(load("deep.yaml", Format::Yaml, &yaml));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");

    let toml = format!("version = 1\nx = {open}{close}\n");
    let d = load("deep.toml", Format::Toml, &toml).unwrap_err();
    assert!(d.errors().all(|d| d.code == Code::Syntax), "{d}");
    let toml = format!(
        "version = 1\nx = {}1{}\n",
        "{a = ".repeat(100_000),
        "}".repeat(100_000)
    );
    let d = load("deep.toml", Format::Toml, &toml).unwrap_err();
    assert!(d.errors().count() >= 1, "{d}");
}

#[test]
fn toml_nesting_past_the_limit_through_headers_and_dotted_keys_is_refused() {
    // toml's own limit is per key path and per inline value; a header path and dotted keys
    // below it add up past 128.
    let header = vec!["a"; 70].join(".");
    let dotted = vec!["b"; 70].join(".");
    let text = format!("version = 1\n\n[queues.q.arguments.{header}]\n{dotted} = 1\n");
    let d = only_error(load("deep.toml", Format::Toml, &text));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert_eq!(d.location.as_ref().unwrap().line, 4, "{d}");
}

// ---------------------------------------------------------------------------------------------
// Diagnostics that stay readable

#[test]
fn a_json_file_is_reported_as_json() {
    let d = only_error(load(
        "broken.json",
        Format::Json,
        "{\"version\": 1,\n  \"queues\": {]\n}\n",
    ));
    assert_eq!(d.code, Code::Syntax, "{d}");
    assert!(d.message.starts_with("invalid JSON: "), "{d}");
    // The deeply nested file of the report: one 200 KB line.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let d = only_error(load("deep.json", Format::Json, &deep));
    assert_eq!(d.code, Code::LimitExceeded, "{d}");
    assert!(
        d.message.contains("JSON") && !d.message.contains("YAML"),
        "{d}"
    );
    assert!(d.to_string().len() < 600, "{d}");
}

#[test]
fn a_long_line_is_cut_around_the_column() {
    // One 200 KB line with a bad value near its middle.
    let mut text = String::from("{\"version\": 1, \"queues\": {");
    for i in 0..2500 {
        write!(text, "\"queue-{i:05}\": {{\"durable\": true}}, ").unwrap();
    }
    let column = text.chars().count() + 1;
    text.push_str("\"bad\": {\"durable\": \"maybe\"}, ");
    for i in 2500..5000 {
        write!(text, "\"queue-{i:05}\": {{\"durable\": true}}, ").unwrap();
    }
    text.push_str("\"last\": {}}}");
    assert!(text.len() > 150_000);
    let d = only_error(load("long.json", Format::Json, &text));
    assert_eq!(d.code, Code::InvalidValue, "{d}");
    let loc = d.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column as usize), (1, column + 19), "{d}");
    let shown = d.to_string();
    assert!(shown.len() < 600, "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 140), "{shown}");
    // The caret is under the value, and both cuts are marked.
    let lines: Vec<&str> = shown.lines().collect();
    let source = lines.iter().find(|l| l.starts_with("1 | ")).unwrap();
    let caret = lines.iter().find(|l| l.contains('^')).unwrap();
    let at = caret.find('^').unwrap();
    let under: String = source.chars().skip(at).take(7).collect();
    assert_eq!(under, "\"maybe\"", "{shown}");
    assert!(
        source.starts_with("1 | …") && source.ends_with('…'),
        "{shown}"
    );
}

#[test]
fn control_characters_in_names_are_escaped() {
    let json = "{\"version\": 1, \"queues\": {\"evil\\n\\u0000name\\u001b[2J\\u202e\": {}}}";
    let t = load("names.json", Format::Json, json).unwrap();
    let w = &t.warnings()[0];
    assert_eq!(w.code, Code::OrphanQueue);
    assert!(
        w.message.contains("`evil\\n\\0name\\u{1b}[2J\\u{202e}`"),
        "{}",
        w.message
    );
    let shown = w.to_string();
    assert!(
        !shown
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{shown:?}"
    );
    // Errors found while decoding an entity name it escaped too.
    let json = "{\"version\": 1, \"queues\": {\"evil\\u001b[2J\": {\"durable\": 1}}}";
    let d = only_error(load("names.json", Format::Json, json));
    assert!(
        d.message.starts_with("queue `evil\\u{1b}[2J`: "),
        "{}",
        d.message
    );
}

#[test]
fn control_characters_in_echoed_lines_are_escaped() {
    // TOML refuses raw control characters; the line it refuses is shown escaped.
    let text = "version = 1\ndescription = \"\u{1b}[2J\u{7}\"\n";
    let d = load("raw.toml", Format::Toml, text).unwrap_err();
    let shown = d.to_string();
    assert!(
        shown.contains("2 | description = \"\\u{1b}[2J\\u{7}\""),
        "{shown}"
    );
    assert!(
        !shown.chars().any(|c| c != '\n' && c.is_control()),
        "{shown:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Size

/// `queues` queues spread over 100 topic exchanges, each bound with its own key; a producer
/// and a consumer per 100 queues.
fn big_topology(queues: usize) -> String {
    let mut text = String::from("version = 1\n\n[messages.job]\nfields.id = \"u64\"\n\n");
    for x in 0..100 {
        writeln!(text, "[exchanges.x{x:03}]\ntype = \"topic\"\n").unwrap();
    }
    for i in 0..queues {
        writeln!(
            text,
            "[queues.queue-{i:06}]\nbindings = [{{ exchange = \"x{:03}\", routing_key = \"jobs.{i}.#\" }}]\n",
            i % 100
        )
        .unwrap();
    }
    for i in (0..queues).step_by(100) {
        writeln!(
            text,
            "[producers.p{i}]\nexchange = \"x{:03}\"\nmethods.send = {{ message = \"job\", routing_key = \"jobs.{i}.new\" }}\n",
            i % 100
        )
        .unwrap();
        writeln!(text, "[consumers.c{i}]\nqueues.queue-{i:06} = \"job\"\n").unwrap();
    }
    text
}

#[test]
fn a_hundred_thousand_queues_check() {
    let t = Topology::from_toml_str(&big_topology(100_000)).unwrap();
    assert_eq!(t.model().queues.len(), 100_000);
    assert_eq!(t.model().producers.len(), 1000);
    assert_eq!(
        t.route("x042", "jobs.99942.x", None),
        ["queue-099942".to_owned()].into()
    );
    // Every queue without a consumer or a producer is bound, so nothing is an orphan.
    assert!(
        t.warnings().is_empty(),
        "{:?}",
        t.warnings().iter().take(3).collect::<Vec<_>>()
    );
}

#[test]
fn a_hundred_thousand_queue_names_in_yaml_still_find_a_duplicate() {
    let mut text = String::from("version: 1\nqueues:\n");
    for i in 0..100_000 {
        writeln!(text, "  q{i}: {{}}").unwrap();
    }
    text.push_str("  q77: {durable: false}\n");
    let d = only_error(load("many.yaml", Format::Yaml, &text));
    assert_eq!(d.code, Code::DuplicateName, "{d}");
    assert_eq!(place(&d), (100_003, 3), "{d}");
    assert_eq!(d.related[0].0.line, 80, "{d}");
}

#[test]
fn many_misspelt_references_are_all_reported() {
    let mut text = String::from("version = 1\n");
    for i in 0..20_000 {
        writeln!(text, "[exchanges.exchange-{i:05}]\ntype = \"fanout\"").unwrap();
        writeln!(
            text,
            "[queues.queue-{i:05}]\nbindings = [{{ exchange = \"exchnage-{i:05}\" }}]"
        )
        .unwrap();
    }
    let d = load("typos.toml", Format::Toml, &text).unwrap_err();
    let undeclared: Vec<_> = d
        .errors()
        .filter(|d| d.code == Code::UndeclaredExchange)
        .collect();
    assert_eq!(undeclared.len(), 20_000);
    // The first ones still get a suggestion.
    assert_eq!(
        undeclared[0].help.as_deref(),
        Some("did you mean `exchange-00000`?")
    );
}

#[test]
fn a_dead_letter_chain_of_5000_queues_is_one_cycle() {
    let n = 5000;
    let mut text = String::from("version = 1\n\n[exchanges.dlx]\n");
    for i in 0..n {
        writeln!(
            text,
            "[queues.q{i:04}]\ndead_letter_exchange = \"dlx\"\ndead_letter_routing_key = \"to-{:04}\"\nbindings = [{{ exchange = \"dlx\", routing_key = \"to-{i:04}\" }}]",
            (i + 1) % n
        )
        .unwrap();
    }
    let t = Topology::from_toml_str(&text).unwrap();
    let cycles: Vec<_> = t
        .warnings()
        .iter()
        .filter(|w| w.code == Code::DeadLetterCycle)
        .collect();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0]
            .message
            .starts_with("dead-letter cycle without a message TTL: `q0000` -> `q0001` -> "),
        "{}",
        &cycles[0].message[..200]
    );
    assert!(cycles[0].message.ends_with("`q4999` -> `q0000`"));
}

#[test]
fn coloured_rendering_adds_only_its_own_styles() {
    // A line holding an escape sequence, refused: coloured, the text is the plain text with
    // the renderer's styles around its parts, and the file's escape is still escaped.
    let text = "version = 1\ndescription = \"\u{1b}[2J\u{7}\"\n";
    let d = load("raw.toml", Format::Toml, text).unwrap_err();
    let plain = d.render(false);
    assert_eq!(plain, d.to_string());
    let coloured = d.render(true);
    assert!(
        coloured.starts_with("\u{1b}[1;31merror[E001]\u{1b}[0m"),
        "{coloured:?}"
    );
    let mut stripped = coloured.clone();
    for style in [
        "\u{1b}[1;31m",
        "\u{1b}[1;33m",
        "\u{1b}[1;34m",
        "\u{1b}[1m",
        "\u{1b}[0m",
    ] {
        stripped = stripped.replace(style, "");
    }
    assert_eq!(stripped, plain);
    assert!(
        coloured.contains("description = \"\\u{1b}[2J\\u{7}\""),
        "{coloured:?}"
    );
    // A warning is yellow, with its help.
    let json = "{\"version\": 1, \"queues\": {\"q\": {}}}";
    let t = load("w.json", Format::Json, json).unwrap();
    let w = t.warnings()[0].render(true);
    assert!(w.starts_with("\u{1b}[1;33mwarning[W201]\u{1b}[0m"), "{w:?}");
}
