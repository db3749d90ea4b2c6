//! Profile text → profile. Any bytes either parse into a profile whose every key names a file below
//! /proc/sys, or fail with an error that names a position; nothing panics or runs away (deep nesting is
//! refused before the YAML parser sees it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pincore_tuner::profile::Origin;
use pincore_tuner::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Profile::from_yaml(text, "fuzz", Origin::BuiltIn) {
        Ok(profile) => {
            for entry in &profile.sysctl {
                let path = entry.key.relative_path();
                assert!(
                    path.components()
                        .all(|c| matches!(c, std::path::Component::Normal(_))),
                    "{} escapes /proc/sys",
                    entry.key
                );
                assert!(!entry.target.value.is_empty() && !entry.target.value.contains('\n'));
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("built-in:fuzz"), "{message}");
        }
    }
});
