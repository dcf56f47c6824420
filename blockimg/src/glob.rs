//! Shell-style wildcards over byte strings, matched in time proportional to
//! the pattern's length times the text's, whatever the pattern holds (a
//! backtracking matcher takes exponential time on patterns such as
//! `/****...*x`).
//!
//! `*` and `?` match within one path component, `**` matches across `/`,
//! and `[...]` is a class with ranges and `!`/`^` negation; a `]` right
//! after the opening bracket (or its negation) is a member, and a bracket
//! that never closes is an ordinary `[`.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// One element of a compiled pattern.
enum Token {
    /// This byte.
    Byte(u8),
    /// `?`: any byte but `/`.
    AnyByte,
    /// `*`: any run of bytes without `/`.
    Star,
    /// `**`: any run of bytes.
    Globstar,
    /// `[...]`: a byte in (or, negated, not in) the set; never `/`.
    Class(ByteSet),
}

/// A set of bytes, one bit each.
#[derive(Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        if let Some(word) = self.0.get_mut(usize::from(b >> 6)) {
            *word |= 1 << (b & 63);
        }
    }

    fn contains(&self, b: u8) -> bool {
        self.0
            .get(usize::from(b >> 6))
            .is_some_and(|word| word & (1 << (b & 63)) != 0)
    }

    fn complement(&mut self) {
        self.0.iter_mut().for_each(|word| *word = !*word);
    }
}

/// True when the whole of `text` matches `pattern` (compiles the pattern;
/// [`Glob`] compiles it once for many texts).
///
/// # Examples
///
/// ```
/// use blockimg::glob::glob_match;
///
/// assert!(glob_match(b"/etc/*.conf", b"/etc/resolv.conf"));
/// assert!(!glob_match(b"/etc/*.conf", b"/etc/ssh/sshd.conf")); // `*` stays in one component
/// assert!(glob_match(b"/etc/**.conf", b"/etc/ssh/sshd.conf"));
/// assert!(glob_match(b"/dev/tty[0-9]", b"/dev/tty1"));
/// // Patterns that make a backtracking matcher take forever are quick.
/// assert!(!glob_match(&b"*a".repeat(50), &[b'a'; 49]));
/// assert!(glob_match(&b"*a".repeat(50), &[b'a'; 60]));
/// ```
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    Glob::new(pattern).matches(text)
}

/// A compiled pattern, to match against many texts (every path of a tree).
///
/// # Examples
///
/// ```
/// use blockimg::glob::Glob;
///
/// let conf = Glob::new(b"/etc/**.conf");
/// assert!(conf.matches(b"/etc/ssh/sshd.conf"));
/// assert!(!conf.matches(b"/usr/lib/os-release"));
/// ```
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::glob::Glob;
    ///
    /// assert!(Glob::new(b"[").matches(b"[")); // an unclosed bracket is literal
    /// ```
    pub fn new(pattern: &[u8]) -> Self {
        Glob {
            tokens: compile(pattern),
        }
    }

    /// True when the whole of `text` matches.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::glob::Glob;
    ///
    /// let tty = Glob::new(b"/dev/tty[!0-9]");
    /// assert!(tty.matches(b"/dev/ttyS"));
    /// assert!(!tty.matches(b"/dev/tty1"));
    /// ```
    pub fn matches(&self, text: &[u8]) -> bool {
        let tokens = &self.tokens;
        // live[i]: the text read so far can leave the pattern at token i.
        let mut live = vec![false; tokens.len() + 1];
        let mut next = live.clone();
        if let Some(start) = live.first_mut() {
            *start = true;
        }
        skip_empty_matches(tokens, &mut live);
        for &c in text {
            next.fill(false);
            for (i, token) in tokens.iter().enumerate() {
                if !live.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let (stay, advance) = match token {
                    Token::Byte(b) => (false, c == *b),
                    Token::AnyByte => (false, c != b'/'),
                    Token::Star => (c != b'/', false),
                    Token::Globstar => (true, false),
                    Token::Class(set) => (false, c != b'/' && set.contains(c)),
                };
                for (state, reached) in [(i, stay), (i + 1, advance)] {
                    if let (true, Some(slot)) = (reached, next.get_mut(state)) {
                        *slot = true;
                    }
                }
            }
            skip_empty_matches(tokens, &mut next);
            if !next.contains(&true) {
                return false;
            }
            std::mem::swap(&mut live, &mut next);
        }
        live.last().copied().unwrap_or(false)
    }
}

/// Marks the states reachable by letting stars match nothing.
fn skip_empty_matches(tokens: &[Token], live: &mut [bool]) {
    for (i, token) in tokens.iter().enumerate() {
        if matches!(token, Token::Star | Token::Globstar) && live.get(i) == Some(&true) {
            if let Some(after) = live.get_mut(i + 1) {
                *after = true;
            }
        }
    }
}

fn compile(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = pattern;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        tokens.push(match first {
            b'*' => match rest.split_first() {
                Some((b'*', tail)) => {
                    rest = tail;
                    Token::Globstar
                }
                _ => Token::Star,
            },
            b'?' => Token::AnyByte,
            b'[' => match class(rest) {
                Some((set, tail)) => {
                    rest = tail;
                    Token::Class(set)
                }
                None => Token::Byte(b'['),
            },
            other => Token::Byte(other),
        });
    }
    tokens
}

/// Parses the class after a `[`: its set of bytes and what follows its `]`,
/// or `None` when it never closes.
fn class(mut rest: &[u8]) -> Option<(ByteSet, &[u8])> {
    let negate = matches!(rest.first(), Some(b'!' | b'^'));
    if negate {
        rest = rest.get(1..)?;
    }
    let mut set = ByteSet::default();
    let mut first = true;
    loop {
        let (&lo, tail) = rest.split_first()?;
        if lo == b']' && !first {
            if negate {
                set.complement();
            }
            return Some((set, tail));
        }
        first = false;
        match tail {
            [b'-', hi, more @ ..] if *hi != b']' => {
                (lo..=*hi).for_each(|b| set.insert(b));
                rest = more;
            }
            _ => {
                set.insert(lo);
                rest = tail;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_in_a_component_and_globstars_cross() {
        assert!(glob_match(b"/usr/bin/*", b"/usr/bin/sudo"));
        assert!(!glob_match(b"/usr/bin/*", b"/usr/bin/x/y"));
        assert!(glob_match(b"/usr/**", b"/usr/bin/x/y"));
        assert!(glob_match(b"/a?c", b"/abc"));
        assert!(!glob_match(b"/a?c", b"/a/c"));
        assert!(glob_match(b"*.conf", b"x86_64-linux-gnu.conf"));
        assert!(!glob_match(b"*.conf", b"x.conf~"));
        assert!(glob_match(b"a?c*", b"abc"));
        assert!(glob_match(b"*a*b", b"xxaxxab"));
        assert!(glob_match(b"**", b""));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"/a?", b"/a"));
        assert!(!glob_match(b"/a", b"/ab"));
        assert!(!glob_match(b"", b"a"));
    }

    #[test]
    fn classes_with_ranges_negation_and_unclosed_brackets() {
        assert!(glob_match(b"/dev/tty[0-9]", b"/dev/tty5"));
        assert!(!glob_match(b"/dev/tty[!0-9]", b"/dev/tty5"));
        assert!(glob_match(b"/x[abc-e]", b"/xd"));
        assert!(!glob_match(b"/x[abc-e]", b"/xf"));
        assert!(glob_match(b"/x[^a-c]y", b"/xzy"));
        assert!(glob_match(b"/x[a-]", b"/x-"), "a dash at the end is itself");
        assert!(!glob_match(b"/x[a-z]", b"/x/"), "a class never matches `/`");
        assert!(!glob_match(b"/x[!a]", b"/x/"), "nor does a negated one");
        assert!(
            glob_match(b"/x[ab", b"/x[ab"),
            "an unclosed bracket is literal"
        );
        assert!(glob_match(b"[", b"["));
        assert!(
            glob_match(b"/x[]]", b"/x]"),
            "a leading `]` is in the class"
        );
        assert!(glob_match(b"/x[!]]", b"/xa"), "also after the negation");
        assert!(!glob_match(b"/x[!]]", b"/x]"));
        assert!(glob_match(b"[a-c]x[!0-9]", b"bxy"));
        assert!(!glob_match(b"[a-c]x[!0-9]", b"bx1"));
    }

    #[test]
    fn patterns_that_defeat_backtracking_match_quickly() {
        // The manifest fuzz target's timeout: dozens of `/**` runs and a
        // path that almost matches. Exponential before; one pass now.
        let pattern = [b"/".repeat(2), b"**/".repeat(60), b"?tcd".to_vec()].concat();
        let path = [b"/".repeat(2), b"a/".repeat(200), b"xtce".to_vec()].concat();
        assert!(!glob_match(&pattern, &path));
        assert!(glob_match(
            &pattern,
            &[&path[..path.len() - 1], b"d"].concat()
        ));
    }
}
