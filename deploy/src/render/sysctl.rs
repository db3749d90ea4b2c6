//! The profile's sysctl.d drop-in that every render ships: pincore-tuner's own rendering of the flattened
//! profile, so the engines persist exactly what `pincore-tuner apply --persist` would.

use crate::manifest::Manifest;

/// The drop-in's file name and content.
pub fn dropin(manifest: &Manifest) -> (String, String) {
    (
        pincore_tuner::persist::dropin_name(&manifest.profile.name),
        pincore_tuner::persist::render_dropin(&manifest.profile),
    )
}
