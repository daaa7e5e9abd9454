//! Glob patterns for routing rules: `*` matches any run of characters
//! (none included), `?` exactly one; everything else matches itself. No
//! character classes or braces, so a pattern means what it looks like.

/// A checked pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob<'a>(&'a str);

impl<'a> Glob<'a> {
    /// Checks `pattern`: `[`, `]`, `{` and `}` are refused, so that a
    /// pattern written for a richer glob syntax is not silently taken literally.
    pub fn new(pattern: &'a str) -> Result<Glob<'a>, String> {
        if let Some(c) = pattern.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
            return Err(format!(
                "`{c}` is not supported in a pattern: use `*` (any run of characters) and `?` (one character)"
            ));
        }
        Ok(Glob(pattern))
    }

    /// Whether `text` matches, in time linear in the lengths of both
    /// (backtracking only to the last `*`).
    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

/// Whether any of `patterns` matches `text` (patterns were checked when
/// their document was saved; one that no longer parses matches nothing).
pub fn any_matches(patterns: &[String], text: &str) -> bool {
    patterns
        .iter()
        .any(|p| Glob::new(p).is_ok_and(|g| g.matches(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("payments.*", "payments.pay_invoice"));
        assert!(m("payments.*", "payments."));
        assert!(!m("payments.*", "payment"));
        assert!(m("*GmbH", "ACME GmbH"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("v?", "v1"));
        assert!(!m("v?", "v"));
        assert!(m("*", ""));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exactly"));
        assert!(m("ünï*", "ünïcode"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let p = "*a".repeat(100);
        let t = "a".repeat(10_000) + "b";
        assert!(!m(&p, &t));
    }

    #[test]
    fn classes_and_braces_are_refused() {
        for p in ["[abc]", "x{a,b}", "]"] {
            assert!(Glob::new(p).unwrap_err().contains("not supported"), "{p}");
        }
    }
}
