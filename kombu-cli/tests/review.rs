//! `kombu review`: the pull-request comment for a real change, section by section, and how it
//! behaves on a broken new version, a git revision and `--deny`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{kombu, workspace};

const V1: &str = "kombu-cli/tests/fixtures/review/orders_v1.toml";
const V2: &str = "kombu-cli/tests/fixtures/review/orders_v2.toml";

/// The comment's sections by their `###` heading (the summary line under the title first).
fn sections(comment: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut heading = "summary".to_owned();
    let mut body = String::new();
    for line in comment.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            out.push((heading, std::mem::take(&mut body)));
            heading = h.to_owned();
        } else if !line.starts_with("## ") {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.push((heading, body));
    out
}

#[test]
fn the_comment_for_a_real_change_section_by_section() {
    let (code, comment, err) = kombu(&["review", V1, V2]);
    assert_eq!(code, 0, "{err}");
    let s = sections(&comment);
    let names: Vec<&str> = s.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        names,
        [
            "summary",
            "Changes",
            "The changed part",
            "Routes that change",
            "Message types that break a consumer",
            "New lint findings"
        ]
    );
    for (heading, body) in &s {
        let name = format!("review_orders_{}", heading.to_lowercase().replace(' ', "_"));
        insta::assert_snapshot!(name, body);
    }
    let get = |h: &str| &s.iter().find(|(x, _)| x == h).unwrap().1;
    // The summary counts what the sections hold.
    assert!(
        get("summary").contains("**7 changes** (3 destructive, 4 safe)"),
        "{}",
        get("summary")
    );
    // The graph marks the new queue and consumer as added, the moved binding as one edge
    // added and one removed, and is a Mermaid block.
    let graph = get("The changed part");
    assert!(graph.starts_with("\n```mermaid\nflowchart LR\n"), "{graph}");
    assert!(graph.contains("[(\"invoices (quorum)\")]"), "{graph}");
    assert!(graph.contains("==>|\"added: refund.*\"|"), "{graph}");
    assert!(
        graph.contains("-.->|\"removed: order.refunded\"|"),
        "{graph}"
    );
    assert!(graph.contains("class n4,n8 added"), "{graph}");
    // The route the refund producer uses is lost, found by the simulator.
    let routes = get("Routes that change");
    assert!(
        routes.contains("| `orders` | `order.refunded` | `refunds` | — | `shop.refund` |"),
        "{routes}"
    );
    // The currency added breaks the consumers old producers' orders still reach, the new
    // invoicing consumer too: old producers publish through the new bindings while the
    // deploy runs.
    let breaks = get("Message types that break a consumer");
    assert!(
        breaks.contains("`warehouse` on `order-placed` (sent by `shop.place`)"),
        "{breaks}"
    );
    assert!(
        breaks.contains("`invoicing` on `invoices` (sent by `shop.place`)"),
        "{breaks}"
    );
    assert!(get("New lint findings").contains("**W207**"));
}

#[test]
fn the_media_example_change() {
    let (code, comment, err) = kombu(&[
        "review",
        "kombu-cli/tests/fixtures/media_old.toml",
        "kombu-cli/tests/fixtures/media_new.toml",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("review_media", comment);
}

#[test]
fn no_change_and_a_git_revision() {
    let (code, comment, err) = kombu(&["review", "--git", "HEAD", "examples/media/topology.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(comment.contains("No topology changes."), "{comment}");
    assert!(comment.contains("**0 routes change**"), "{comment}");
    assert!(!comment.contains("```mermaid"), "{comment}");
}

#[test]
fn deny_exits_1_and_still_writes_the_comment() {
    let (code, comment, err) = kombu(&["review", V1, V2, "--deny", "destructive"]);
    assert_eq!(code, 1);
    assert!(err.contains("3 destructive"), "{err}");
    assert!(comment.contains("### Changes"), "{comment}");
    let (code, _, _) = kombu(&["review", V1, V2, "--deny", "recreate"]);
    assert_eq!(code, 0);
}

#[test]
fn a_new_version_that_does_not_load_is_the_comment() {
    let dir = std::env::temp_dir().join(format!("kombu-review-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.toml");
    let text = std::fs::read_to_string(workspace().join(V2))
        .unwrap()
        .replace(
            "routing_key = \"order.placed\" }\n",
            "routing_key = \"order.placed\" }\nmystery = 1\n",
        );
    std::fs::write(&broken, text).unwrap();
    let (code, comment, err) = kombu(&["review", V1, broken.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        comment.contains("**The new version does not load**"),
        "{comment}"
    );
    assert!(comment.contains("**E002**"), "{comment}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn review_of(name: &str, old: &str, new: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kombu-review-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("old.toml"), dir.join("new.toml"));
    std::fs::write(&a, old).unwrap();
    std::fs::write(&b, new).unwrap();
    let (code, comment, err) = kombu(&["review", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 0, "{name}: {err}");
    std::fs::remove_dir_all(dir).unwrap();
    comment
}

#[test]
fn routes_through_wildcards_headers_and_dead_letters() {
    let old = r##"
version = 1
[exchanges.events]
type = "topic"
[exchanges.docs]
type = "headers"
[exchanges.dlx]
[queues.audit]
bindings = [{ exchange = "events", routing_key = "order.*" }]
[queues.pdf-or-en]
bindings = [{ exchange = "docs", headers = { format = "pdf", lang = "en" }, match = "any" }]
[queues.work]
dead_letter_exchange = "dlx"
dead_letter_routing_key = "work.dead"
[queues.work-dead]
bindings = [{ exchange = "dlx", routing_key = "work.dead" }]
"##;
    let new = old
        .replace("\"order.*\"", "\"order.#\"")
        .replace("match = \"any\"", "match = \"all\"")
        .replace(
            "dead_letter_routing_key = \"work.dead\"",
            "dead_letter_routing_key = \"work.dlq\"",
        );
    let comment = review_of("routes", old, &new);
    for row in [
        // `order.#` also takes `order.x.x`, which `order.*` did not.
        "| `events` | `order.x.x` | — | `audit` |",
        // One header of two no longer matches `all`.
        "| `docs` | (empty) headers { format = \"pdf\" } | `pdf-or-en` | — |",
        // Dead letters go by another key, which nothing binds.
        "| `dlx` | `work.dlq` | `work-dead` | — | dead letters of `work` |",
    ] {
        assert!(comment.contains(row), "no `{row}` in\n{comment}");
    }
}

#[test]
fn names_rabbitmq_allows_keep_the_markdown_and_the_graph_intact() {
    let old = r##"
version = 1
[exchanges."a|b#c"]
type = "topic"
[queues."q `1`"]
bindings = [{ exchange = "a|b#c", routing_key = "" }]
"##;
    let new = old.replace("routing_key = \"\"", "routing_key = \"k<b>#x\"");
    let comment = review_of("names", old, &new);
    // A backtick in a name gets a longer code fence; `|` is escaped; the empty key says so.
    assert!(comment.contains("`` q `1` ``"), "{comment}");
    assert!(comment.contains("`a\\|b#c`"), "{comment}");
    assert!(comment.contains("| (empty) |"), "{comment}");
    // In Mermaid, `#`, `<`, `>` and quotes are entity codes, not syntax or markup.
    assert!(comment.contains("added: k#lt;b#gt;#35;x"), "{comment}");
    let graph = comment
        .split("```mermaid")
        .nth(1)
        .and_then(|g| g.split("```").next())
        .unwrap();
    assert!(!graph.contains("k<b>"), "{graph}");
    assert!(graph.contains("a|b#35;c (topic)"), "{graph}");
}

#[test]
fn a_consumer_moved_to_a_new_message_type_is_checked_against_the_old_one() {
    let old = std::fs::read_to_string(workspace().join(V1)).unwrap();
    // `order_v2` replaces `order` for the consumers and the producer, with a required field
    // more: old producers still send `order` without it.
    let new = old.replace(
        "[messages.refund]",
        "[messages.order_v2]\nfields.id = \"uuid\"\nfields.currency = \"string\"\n\n[messages.refund]",
    )
    .replace("methods.place = { message = \"order\"", "methods.place = { message = \"order_v2\"")
    .replace("queues.order-placed = \"order\"", "queues.order-placed = \"order_v2\"")
    .replace("queues.payments = \"order\"", "queues.payments = \"order_v2\"");
    let comment = review_of("moved", &old, &new);
    assert!(
        comment.contains(
            "| `order_v2` | required field `currency` added (in place of `order`) | **backward** |"
        ),
        "{comment}"
    );
    assert!(
        comment.contains("`warehouse` on `order-placed` (sent by `shop.place`)"),
        "{comment}"
    );
}
