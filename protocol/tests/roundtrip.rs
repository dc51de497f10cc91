//! Format → parse round trips: every valid command and reply survives the wire.

mod strategies;

use proptest::prelude::*;
use smtp_protocol::{Command, ParseOptions, Reply};
use strategies::{command, reply};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn command_round_trips(cmd in command()) {
        let wire = cmd.to_bytes();
        prop_assert!(wire.ends_with(b"\r\n"));
        let line = &wire[..wire.len() - 2];
        prop_assert_eq!(Command::parse(line), Ok(cmd.clone()), "{}", String::from_utf8_lossy(line));
    }

    #[test]
    fn reply_round_trips(reply in reply()) {
        let wire = reply.to_bytes();
        let parsed = Reply::parse(&wire);
        prop_assert!(parsed.is_ok(), "{:?} from {:?}", parsed, String::from_utf8_lossy(&wire));
        let parsed = parsed.expect("checked");
        prop_assert_eq!(&parsed.reply, &reply);
        prop_assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
    }

    /// Whatever the parser accepts, it formats into something it parses to the same value.
    #[test]
    fn accepted_commands_are_stable(line in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(parsed) = Command::parse_with(&line, ParseOptions::default()) {
            let again = parsed.command.to_string();
            let reparsed = Command::parse_with(again.as_bytes(), ParseOptions { smtputf8: true });
            prop_assert_eq!(reparsed.map(|p| p.command), Ok(parsed.command));
        }
    }

    /// Text shaped like commands, to reach deep into the grammar.
    #[test]
    fn command_like_text_never_panics(line in "(MAIL FROM|RCPT TO|EHLO|AUTH|BDAT|ETRN|VRFY) ?:? ?<?[ -~\\t\\x80-\\xff]{0,60}") {
        let _ = Command::parse_with(line.as_bytes(), ParseOptions::default());
    }
}
