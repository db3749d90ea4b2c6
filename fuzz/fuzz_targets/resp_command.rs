//! Client bytes → commands. The stateless parser and the resumable one (fed the same bytes split at every
//! point the input's first byte picks) must agree on every command and error, never panic, and never claim
//! more bytes than they were given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pincore_resp::{parse_command, CommandParser, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    // Small limits, so the fuzzer reaches every limit check quickly.
    let limits = Limits {
        max_bulk_len: 64,
        max_array_len: 16,
        max_inline_len: 64,
    };
    let mut whole = Vec::new();
    let mut args = Vec::new();
    let mut start = 0;
    let stateless = loop {
        match parse_command(&input[start..], &limits, &mut args) {
            Ok(Some(consumed)) => {
                assert!(consumed > 0 && consumed <= input.len() - start);
                for a in &args {
                    assert!(a.end <= consumed, "argument outside the command");
                }
                whole.push(args.iter().map(|a| input[start..][a.clone()].to_vec()).collect::<Vec<_>>());
                start += consumed;
            }
            Ok(None) => break Ok(start),
            Err(e) => break Err(e),
        }
    };

    // The same bytes in two reads: everything up to `cut`, then the rest.
    let cut = usize::from(split) * input.len() / 255;
    let mut parser = CommandParser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut resumed = Vec::new();
    let mut consumed_total = 0;
    let mut outcome = Ok(0);
    'reads: for chunk in [&input[..cut], &input[cut..]] {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&buf, &limits) {
                Ok(Some(consumed)) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    let args = parser.args();
                    resumed.push(args.iter().map(|a| buf[a.clone()].to_vec()).collect::<Vec<_>>());
                    buf.drain(..consumed);
                    consumed_total += consumed;
                }
                Ok(None) => break,
                Err(e) => {
                    outcome = Err(e);
                    break 'reads;
                }
            }
        }
    }
    if outcome.is_ok() {
        outcome = Ok(consumed_total);
    }
    assert_eq!(whole, resumed, "the two parsers saw different commands");
    assert_eq!(stateless, outcome, "the two parsers ended differently");
});
