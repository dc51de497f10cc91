//! Command parsing alone, as the server runs it on every line: never panics, and the
//! strict verdict is the lenient parse with no leniency. (The format → parse oracle is
//! the `command_roundtrip` target.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::{Command, ParseOptions};

fuzz_target!(|line: &[u8]| {
    if let Ok(parsed) = Command::parse_with(line, ParseOptions::default()) {
        let clean = parsed.leniencies.is_empty();
        assert_eq!(parsed.strict().is_ok(), clean);
    }
});
