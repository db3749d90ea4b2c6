//! The connection scenarios the tuned benchmark measures (storm, churn, bulk), with the kernel counters they report.

pub mod bulk;
pub mod churn;
pub mod netstat;
pub mod storm;
