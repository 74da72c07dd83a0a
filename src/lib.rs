//! minnow: a small neural-network engine (tensors, reverse-mode autograd, layers, optimizers) with
//! pruning, quantization and distillation, running natively and in the browser (wasm32), on a CPU
//! backend and a WebGPU backend. See ARCHITECTURE.md for the map.

pub mod backend;
pub mod data;
pub mod distill;
pub mod error;
pub mod export;
pub mod rng;
pub mod schedule;

pub use backend::{Device, Storage};
pub use error::{Error, Result};
pub mod int8;
pub mod loss;
pub mod math;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod pipeline;
pub mod prune;
pub mod quant;
pub mod recipe;
pub mod sweep;
pub mod tensor;
pub mod trainer;

pub use tensor::{Tensor, no_grad};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
