//! Ctrl-C and SIGTERM become a flag that every loop checks, so a run stops by itself and the code that
//! started servers and namespaces gets to remove them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{BenchError, Result};

/// Registers SIGINT and SIGTERM to set the returned flag (instead of killing the process).
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .map_err(|e| BenchError::io("installing the Ctrl-C handler", e))?;
    }
    Ok(flag)
}
