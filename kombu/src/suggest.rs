//! "Did you mean ...?" for unknown names (URL options, topology keys, references).

#[cfg(feature = "topology")]
use std::collections::{BTreeMap, HashMap};

/// The largest edit distance at which `known` still looks like a typo of `unknown`: a third
/// of the longer name (in characters), and at least one.
fn close_enough(unknown_len: usize, known_len: usize) -> usize {
    (unknown_len.max(known_len) / 3).max(1)
}

/// The known name closest to `unknown`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = unknown.chars().count();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .filter(|&(d, k)| d <= close_enough(len, k.chars().count()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Did-you-mean against one large set of names, for many unknown names: a topology of 100,000
/// queues with a misspelt reference in each must not compare every reference with every
/// name. Names are grouped by length (an edit distance is at least the difference in
/// length, so most groups are skipped), each unknown name is answered once, and the
/// comparisons of one set are capped: past the cap, no more suggestions are made (the first
/// errors keep theirs, which is what someone fixing them reads).
#[cfg(feature = "topology")]
pub(crate) struct Suggester<'a> {
    /// The names by length in characters, each with its place in the original order (ties in
    /// distance go to the first, as with [`did_you_mean`]).
    by_len: BTreeMap<usize, Vec<(usize, &'a str)>>,
    answers: HashMap<String, Option<&'a str>>,
    comparisons_left: usize,
}

#[cfg(feature = "topology")]
impl<'a> Suggester<'a> {
    /// How many name comparisons one set answers with at most.
    pub(crate) const COMPARISONS: usize = 200_000;

    /// A suggester over `known`.
    pub(crate) fn new(known: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_len: BTreeMap<usize, Vec<(usize, &'a str)>> = BTreeMap::new();
        for (i, k) in known.into_iter().enumerate() {
            by_len.entry(k.chars().count()).or_default().push((i, k));
        }
        Suggester {
            by_len,
            answers: HashMap::new(),
            comparisons_left: Self::COMPARISONS,
        }
    }

    /// What [`did_you_mean`] would answer for `unknown`, while comparisons are left.
    pub(crate) fn suggest(&mut self, unknown: &str) -> Option<&'a str> {
        if let Some(answer) = self.answers.get(unknown) {
            return *answer;
        }
        let len = unknown.chars().count();
        // A name can be close enough only if its length is: within a third of the longer.
        let lowest = (len - len / 3).saturating_sub(1);
        let highest = len + len / 2 + 2;
        let mut best: Option<(usize, usize, &'a str)> = None;
        let mut complete = true;
        'search: for (&k_len, names) in self.by_len.range(lowest..=highest) {
            let limit = close_enough(len, k_len);
            if k_len.abs_diff(len) > limit {
                continue;
            }
            for &(i, k) in names {
                if self.comparisons_left == 0 {
                    complete = false;
                    break 'search;
                }
                self.comparisons_left -= 1;
                let d = strsim::levenshtein(unknown, k);
                if d <= limit && best.is_none_or(|(bd, bi, _)| (d, i) < (bd, bi)) {
                    best = Some((d, i, k));
                }
            }
        }
        // An interrupted search may have missed the closest name: better no suggestion than
        // a worse one.
        let answer = if complete {
            best.map(|(_, _, k)| k)
        } else {
            None
        };
        self.answers.insert(unknown.to_owned(), answer);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["heartbeat", "frame_max", "channel_max"];
        assert_eq!(did_you_mean("hearbeat", known), Some("heartbeat"));
        assert_eq!(did_you_mean("frame-max", known), Some("frame_max"));
        assert_eq!(did_you_mean("colour", known), None);
    }

    #[test]
    fn the_suggester_answers_as_did_you_mean_does() {
        let known = [
            "a",
            "ab",
            "video",
            "videos",
            "vid",
            "audio",
            "frame_max",
            "frame-max2",
            "x",
            "名前",
            "名前2",
        ];
        let mut s = Suggester::new(known);
        for unknown in [
            "", "b", "abc", "vidoe", "videoss", "audi", "frame_mx", "名", "名前3", "zzzzzz", "v",
        ] {
            assert_eq!(
                s.suggest(unknown),
                did_you_mean(unknown, known),
                "{unknown}"
            );
        }
    }

    #[test]
    fn the_suggester_stops_suggesting_past_its_comparisons() {
        let known: Vec<String> = (0..100_000).map(|i| format!("queue-{i:06}")).collect();
        let mut s = Suggester::new(known.iter().map(String::as_str));
        assert_eq!(s.suggest("qeueu-000001"), Some("queue-000001"));
        assert_eq!(s.suggest("qeueu-000001"), Some("queue-000001"));
        for i in 0..10 {
            s.suggest(&format!("qeueu-{i:06}x"));
        }
        assert_eq!(s.suggest("qeueu-000002"), None);
    }
}
