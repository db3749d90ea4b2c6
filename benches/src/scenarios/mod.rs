//! The connection scenarios the tuned benchmark measures (storm, churn), with the kernel counters they report.

pub mod churn;
pub mod netstat;
pub mod storm;
