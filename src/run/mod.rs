//! A run: the training loop (`Trainer`), the compression stages that follow it (`pipeline` and the
//! stage runners), typed reports, and `Session`, the one API the CLI and the page use.

pub mod pipeline;
pub mod report;
pub mod session;
pub mod stages;
pub mod trainer;
