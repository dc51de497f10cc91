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
    shape_echoing(text, &Echo::default())
}

/// The words a command carries, as [`shape`] compares them (the letters of each
/// word, lower case): what a reply repeats from its command is no part of its
/// wording. Postfix's `555 5.5.4 Unsupported option: FOOBAR` is one reply for every
/// parameter a mutation invents; kept apart, a ten-minute campaign counted 20,531
/// states and kept nearly every input.
#[derive(Debug, Default, Clone)]
pub struct Echo {
    words: std::collections::HashSet<Vec<u8>>,
    /// The line the last step left unfinished.
    pending: Vec<u8>,
}

impl Echo {
    /// The words of what was sent for one step (its first 64 KiB: a reply does not
    /// quote a message's body).
    pub fn of(writes: &[Vec<u8>]) -> Self {
        let mut echo = Self::default();
        echo.add(writes);
        echo
    }

    /// Add the words of one more step. A session's echo holds every step's: a reply
    /// read late (its step given up on, or a pipelined batch) answers an earlier one.
    /// The step's writes are one stream (a batch cut at every octet splits no word
    /// the target reads whole), and a line the step leaves unfinished goes on in the
    /// next. The first word of each line is left out: a reply names the verb it
    /// answers (`Could not VRFY …`, `Supported commands: … DATA …`) as its own
    /// wording.
    pub fn add(&mut self, writes: &[Vec<u8>]) {
        // Enough for every command line of a step (a batch of long lines: with 4 KiB,
        // 240 s against aiosmtpd kept 7,754 states, with 64 KiB 2,407); a message
        // body past it is not quoted in replies.
        const HEAD: usize = 64 * 1024;
        let mut stream = std::mem::take(&mut self.pending);
        let mut left = HEAD;
        for w in writes {
            let head = &w[..w.len().min(left)];
            left -= head.len();
            stream.extend_from_slice(head);
            if left == 0 {
                break;
            }
        }
        // A line goes on until its LF, whatever the step: `VRFY @\r`, then a step
        // `STARTTLS\r\n`, is one line to the target, and STARTTLS no verb of it.
        let unfinished = stream.last().is_some_and(|b| *b != b'\n');
        for line in stream.split(|b| *b == b'\n') {
            let words = line
                .split(u8::is_ascii_whitespace)
                .filter(|w| !w.is_empty());
            for word in words.skip(1) {
                let letters = letters(word);
                if !letters.is_empty() {
                    self.words.insert(letters);
                }
            }
        }
        if unfinished {
            // The line so far, so the next step's octets finish its last word (and
            // the line's first word stays its verb).
            let from = stream
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            self.pending = stream[from..].to_vec();
            self.pending.truncate(HEAD);
        }
    }
}

/// A word's letters, lower case.
fn letters(word: &[u8]) -> Vec<u8> {
    word.iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_lowercase)
        .collect()
}

/// [`shape`], leaving out what the command that was answered carried: the wording
/// ends at the first word the command also had (`Could not VRFY postmaster SIZE=0`
/// is `could not vrfy`; what follows an echo is the rest of it, however the target
/// cut or escaped it). A word with no letter is no wording (`>= >= >=`: each one
/// was a new shape).
pub fn shape_echoing(text: &str, echo: &Echo) -> u64 {
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
        let letters = letters(word.as_bytes());
        if letters.is_empty() {
            continue;
        }
        if echo.words.contains(&letters) {
            break;
        }
        kept.extend(letters);
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
    use super::{Echo, shape, shape_echoing};

    #[test]
    fn what_a_reply_echoes_of_its_command_is_not_its_shape() {
        let said = |option: &str| {
            let sent = format!("MAIL FROM:<a@b.test> {option}\r\n");
            shape_echoing(
                &format!("5.5.4 Unsupported option: {option}"),
                &Echo::of(&[sent.into_bytes()]),
            )
        };
        assert_eq!(said("FOOBAR"), said("QWERTY"));
        assert_eq!(said("FOOBAR"), said("X=Y"));
        assert_eq!(said("FOOBAR"), said("FOO BAR-BAZ +qux"));
        assert_ne!(said("FOOBAR"), shape("5.5.4 Unsupported option: FOOBAR"));
        assert_ne!(
            shape_echoing("5.5.4 Unsupported option: A", &Echo::default()),
            shape_echoing("5.5.4 Bad option: A", &Echo::default())
        );
    }

    #[test]
    fn an_echo_ends_the_wording_but_the_verb_of_a_line_is_no_echo() {
        // aiosmtpd's answers to VRFY with octets it splits otherwise than the client.
        let vrfy = |arg: &str, said: &str| {
            shape_echoing(
                &format!("Could not VRFY {said}"),
                &Echo::of(&[format!("VRFY {arg}\r\n").into_bytes()]),
            )
        };
        let plain = vrfy("postmaster", "postmaster");
        assert_eq!(plain, vrfy("postmaster er\rer", "postmaster er er SIZE"));
        assert_eq!(plain, vrfy(">= >= >=", ">= >= >=>="));
        assert_eq!(plain, vrfy(">= r=", ">= >= >= >= r= >="));
        assert_ne!(plain, shape("Could not"));
        let help = |arg: &str| {
            shape_echoing(
                "Supported commands: AUTH DATA EHLO HELO HELP MAIL",
                &Echo::of(&[format!("HELP {arg}\r\n").into_bytes()]),
            )
        };
        // The verb a line starts with is no echo; its argument ends the wording.
        assert_eq!(
            help(""),
            shape("Supported commands: AUTH DATA EHLO HELO HELP MAIL")
        );
        assert_eq!(help("DATA"), shape("Supported commands: AUTH"));
        // Words sent in the same line, after a bare CR, are echoes too.
        let late = Echo::of(&[b"VRFY x\rRSET\r\n".to_vec()]);
        assert_eq!(
            shape_echoing("Could not VRFY x RSET", &late),
            shape("Could not VRFY")
        );
    }

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
