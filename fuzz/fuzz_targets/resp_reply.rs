//! Server bytes → replies (RESP2 and RESP3). `parse_reply` and the cheaper `skip_reply` must agree on the
//! length and error flag of every reply, never panic, and stay within the bytes given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pincore_resp::{parse_reply, skip_reply, Limits, ProtocolError};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bulk_len: 64,
        max_array_len: 16,
        max_inline_len: 64,
    };
    let mut start = 0;
    // Each reply takes at least three bytes: the loop ends.
    while start < data.len() {
        let rest = &data[start..];
        let skipped = skip_reply(rest, &limits);
        match parse_reply(rest, &limits) {
            Ok(Some((reply, len))) => {
                assert!(len >= 3 && len <= rest.len());
                assert_eq!(skipped, Ok(Some((len, reply.is_error()))));
                start += len;
            }
            Ok(None) => {
                assert_eq!(skipped, Ok(None));
                return;
            }
            // parse_reply bounds nesting; skip_reply keeps no per-level state and need not.
            Err(ProtocolError::ReplyTooDeep { .. }) => return,
            Err(e) => {
                assert_eq!(skipped, Err(e));
                return;
            }
        }
    }
});
