//! minnow: a small neural-network engine (tensors, reverse-mode autograd, layers, optimizers) with
//! pruning, quantization and distillation, running natively and in the browser (wasm32), on a CPU
//! backend and a WebGPU backend. See ARCHITECTURE.md for the map.

pub mod backend;
pub mod data;
pub mod error;
pub mod rng;

pub use backend::{Device, Storage};
pub use error::{Error, Result};
