//! Key helpers: legacy reordering and edit distance.

/// The key the reference builder also tries for backward compatibility with
/// `deepomatic-oef < 0.5`: parts `[0]`, `[-1]`, then `[1..-1]`
/// (`image_detection.ssd.pretraining_none.mobilenet_v1` →
/// `image_detection.mobilenet_v1.ssd.pretraining_none`; a one-part key `x` gives `x.x`).
pub fn legacy_key(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let mut out: Vec<&str> = Vec::with_capacity(parts.len() + 1);
    out.push(parts[0]);
    out.push(parts[parts.len() - 1]);
    if parts.len() > 2 {
        out.extend_from_slice(&parts[1..parts.len() - 1]);
    }
    out.join(".")
}

/// What an unknown-key message says of the legacy reordering `tried` of `key`: nothing when it
/// is `key` itself (a two-part key), else ` (also tried '…' for backward compatibility)`.
pub fn also_tried(key: &str, tried: &str) -> String {
    if key == tried {
        String::new()
    } else {
        format!(" (also tried '{tried}' for backward compatibility)")
    }
}

/// Levenshtein distance between two strings, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let cost = usize::from(ca != *cb);
            row[j + 1] = (diagonal + cost).min(above + 1).min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_reorders_like_the_reference() {
        assert_eq!(legacy_key("a.b.c.d"), "a.d.b.c");
        assert_eq!(legacy_key("a.b"), "a.b");
        assert_eq!(legacy_key("x"), "x.x");
        assert_eq!(legacy_key(""), ".");
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
