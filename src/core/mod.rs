//! The lowest layer: tensors with reverse-mode autograd, every op (forward and backward side by
//! side), the backend boundary with its CPU and WGSL implementations, and the deterministic
//! helpers everything above builds on (counter-based RNG, libm math, errors). Imports nothing
//! from the layers above (see tests/native/layers.rs).

pub mod backend;
pub mod error;
pub mod math;
pub mod ops;
pub mod rng;
pub mod shape;
pub mod tensor;
