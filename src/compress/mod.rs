//! Compression algorithms on models and tensors: pruning masks and their criteria, quantization
//! parameters, observers and fake quantization, integer (int8) inference, the distillation
//! objective, and honest byte accounting. Knows neither the training loop nor the recipe schema.

pub mod distill;
pub mod int8;
pub mod prune;
pub mod quant;
