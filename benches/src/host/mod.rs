//! What a run needs from the machine it runs on: CPUs to pin to, a throwaway namespace, Ctrl-C as a flag.

pub mod cpus;
pub mod delay_line;
pub mod interrupt;
pub mod netns;
pub mod path;
