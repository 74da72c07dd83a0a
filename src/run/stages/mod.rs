//! The stage runners: how each compression stage kind runs on a trainer, a few batches per call.

pub mod distill;
pub mod prune;
pub mod quant;
pub mod sweep;
