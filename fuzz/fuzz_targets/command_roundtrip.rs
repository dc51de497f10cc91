//! Whatever the command parser accepts formats into a line that parses back to the same
//! command, and strict acceptance implies lenient acceptance of the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::{Command, ParseOptions};

fuzz_target!(|line: &[u8]| {
    let strict = Command::parse(line);
    let lenient = Command::parse_with(line, ParseOptions { smtputf8: true });
    if let Ok(cmd) = &strict {
        assert_eq!(lenient.as_ref().map(|p| &p.command), Ok(cmd));
    }
    if let Ok(parsed) = lenient {
        let wire = parsed.command.to_bytes();
        let again = Command::parse_with(&wire[..wire.len() - 2], ParseOptions { smtputf8: true })
            .map(|p| p.command);
        assert_eq!(
            again,
            Ok(parsed.command),
            "{:?}",
            String::from_utf8_lossy(&wire)
        );
    }
});
