//! State file bytes → what rollback may restore. Whatever the file says, after `without_refused` a
//! namespace run keeps only `net.*` sysctls, every sysctl stays below /proc/sys, and the only files left are
//! pincore drop-ins in the run's sysctl directory.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use pincore_tuner::host::Setting;
use pincore_tuner::state::{RestoreScope, StateRecord};

fuzz_target!(|data: &[u8]| {
    let Ok(record) = StateRecord::from_json(data) else {
        return;
    };
    let dropins = Path::new("/etc/sysctl.d");
    for in_namespace in [false, true] {
        let scope = RestoreScope {
            in_namespace,
            dropin_dir: (!in_namespace).then_some(dropins),
        };
        let (kept, refused) = record.clone().without_refused(scope);
        assert_eq!(
            kept.settings.len() + kept.files.len() + refused.len(),
            record.settings.len() + record.files.len(),
            "every entry is kept or refused"
        );
        for s in &kept.settings {
            if let Setting::Sysctl { key } = &s.setting {
                assert!(!in_namespace || key.as_str().starts_with("net."), "{key} from a namespace");
                assert!(key
                    .relative_path()
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))));
            }
        }
        for f in &kept.files {
            assert!(!in_namespace, "a namespace run restores no files");
            assert_eq!(f.path.parent(), Some(dropins), "{}", f.path.display());
            assert!(f.path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
        }
    }
});
