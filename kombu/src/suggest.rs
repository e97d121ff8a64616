//! "Did you mean ...?" for unknown names (URL options, topology keys).

/// The known name closest to `unknown`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .filter(|&(d, k)| d <= (k.len().max(unknown.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
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
}
