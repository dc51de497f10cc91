//! The one hash of the fuzzer: reply wordings (by their shape), feature values,
//! finding keys and file names. Below every other fuzz module, so none of them depends on another for it.

/// FNV-1a.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A hash of a reply text's wording: letters of words without digits or dots (so
/// queue ids, host names, addresses and numbers do not make every reply new), and
/// without what it quotes ('…', "…", `…`, <…>, or a word with a backslash escape):
/// a reply that echoes the command (aiosmtpd's `500 Error: command "XYZ" not
/// recognized`) or an exception that quotes the octet it failed on (`can't encode
/// character '\udcfa'`) is the same reply for every command or octet.
pub fn shape(text: &str) -> u64 {
    let mut kept = Vec::with_capacity(text.len());
    let mut quoted: Option<char> = None;
    for word in text.split_whitespace().take(12) {
        if let Some(close) = quoted {
            if closes(word, close) {
                quoted = None;
            }
            continue;
        }
        if let Some(close) = closing(word) {
            if word.len() == 1 || !closes(word, close) {
                quoted = Some(close);
            }
            continue;
        }
        if word
            .bytes()
            .any(|b| b.is_ascii_digit() || b == b'.' || b == b'@' || b == b'\\')
        {
            continue;
        }
        kept.extend(
            word.bytes()
                .filter(u8::is_ascii_alphabetic)
                .map(|b| b.to_ascii_lowercase()),
        );
        kept.push(b' ');
    }
    hash(&kept)
}

/// `word` ends a quote closed by `close` (punctuation after it aside).
fn closes(word: &str, close: char) -> bool {
    word.trim_end_matches([',', '.', ':', ';', ')', '!', '?'])
        .ends_with(close)
}

/// The quote a word opens, if it starts with one.
fn closing(word: &str) -> Option<char> {
    match word.chars().next()? {
        q @ ('\'' | '"' | '`') => Some(q),
        '<' => Some('>'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn what_a_reply_quotes_is_not_its_shape() {
        let echo = |c: &str| shape(&format!("Error: command \"{c}\" not recognized"));
        assert_eq!(echo("XYZZ"), echo("FOO BAR"));
        assert_eq!(echo("XYZZ"), shape("Error: command <x y> not recognized"));
        let encode = |c: &str| {
            shape(&format!(
                "UnicodeEncodeError: 'utf-8' codec can't encode character '{c}' in \
                 position 5: surrogates not allowed"
            ))
        };
        assert_eq!(encode("\\udcfa"), encode("\\udcff"));
        // An unclosed quote hides the rest, not what came before it.
        assert_ne!(shape("bad 'x y z"), shape("good 'x y z"));
        assert_ne!(shape("can't do that"), shape("do that"));
        assert_eq!(echo("XYZZ"), shape("Error: command not recognized"));
    }
}
