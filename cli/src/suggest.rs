//! "Did you mean": the name a user most likely meant, for typos in profile names, sysctl keys and config keys.

/// The candidate closest to `typed`, when it is close enough to be a typo of it: an edit distance (insertions,
/// deletions, substitutions, swaps of neighbours) of at most a third of the typed length, and at least one.
/// Ties go to the first candidate, so callers pass candidates in a stable order.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (typed.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != typed)
        .map(|c| (strsim::damerau_levenshtein(typed, c), c))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance) // the first of equals
        .map(|(_, c)| c)
}

/// `" — did you mean `X`?"` when there is a close candidate, otherwise nothing: for appending to a message.
pub fn did_you_mean<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, candidates)
        .map(|c| format!(" — did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_or_swapped_letter_is_found() {
        let names = ["base", "throughput", "latency", "connections"];
        assert_eq!(closest("conections", names), Some("connections"));
        assert_eq!(closest("latnecy", names), Some("latency"));
        assert_eq!(
            closest("somaxcon", ["somaxconn", "netdev_budget"]),
            Some("somaxconn")
        );
    }

    #[test]
    fn unrelated_names_and_exact_matches_suggest_nothing() {
        let names = ["base", "throughput", "latency", "connections"];
        assert_eq!(closest("storage", names), None);
        assert_eq!(closest("base", names), None);
        assert_eq!(did_you_mean("zz", names), "");
        assert_eq!(did_you_mean("bsae", names), " — did you mean `base`?");
    }
}
