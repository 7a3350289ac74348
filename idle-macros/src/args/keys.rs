//! The keys: their names, what each value looks like (for messages), and
//! "did you mean" for a key that is not one of them.

/// The keys, in the order the docs list them.
pub(super) const KEYS: [&str; 11] = [
    "timeout",
    "cold_start_cost",
    "state",
    "grace",
    "addr",
    "ignore",
    "ignore_header",
    "status",
    "max_lifetime",
    "on_shutdown",
    "crate",
];

/// What a key's value looks like, for messages.
pub(super) fn example(key: &str) -> &'static str {
    match key {
        "timeout" => "\"30s\"",
        "cold_start_cost" => "\"30s\"",
        "state" => "\"/var/lib/app/idle.state\"",
        "grace" => "\"10s\"",
        "addr" => "\"0.0.0.0:8080\"",
        "ignore" => "[\"/healthz\"]",
        "ignore_header" => "\"fly-healthcheck\"",
        "status" => "\"/_idle\"",
        "max_lifetime" => "\"12h\"",
        "on_shutdown" => "flush_cache",
        _ => "\"::idle_runtime\"",
    }
}

pub(super) fn unknown_key(key: &syn::Ident) -> syn::Error {
    let name = key.to_string();
    let known = KEYS.map(|k| format!("`{k}`")).join(", ");
    let message = match closest(&name) {
        Some(near) => format!("unknown key `{name}`; did you mean `{near}`? The keys are {known}"),
        None => format!("unknown key `{name}`; the keys are {known}"),
    };
    syn::Error::new(key.span(), message)
}

/// The known key within edit distance 2 of `name` (or `name` with `_`
/// removed), if one is.
fn closest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (edit_distance(name, key), *key))
        .filter(|(distance, key)| *distance <= 2.min(key.len() - 1))
        .min()
        .map(|(_, key)| key)
}

/// Levenshtein distance, for "did you mean". Keys are short ASCII words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("timeout", "timeout"), 0);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("tiemout", "timeout"), 2);
        assert_eq!(edit_distance("", "addr"), 4);
    }
}
