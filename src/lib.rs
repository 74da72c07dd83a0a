//! minnow: a small neural-network engine (tensors, reverse-mode autograd, layers, optimizers) with
//! pruning, quantization and distillation, running natively and in the browser (wasm32), on a CPU
//! backend and a WebGPU backend.
//!
//! Layers, each a folder, whose imports only point down (checked by tests/native/layers.rs):
//! `core` → `nn` → `compress` → `recipe` → `data` → `run` → `io` → the bridges (`wasm`, the CLI).
//! See ARCHITECTURE.md for the map.

// Range checks are written `!(lo <= x && x <= hi)` on purpose: NaN fails them, as it must.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod compress;
pub mod core;
pub mod data;
pub mod io;
pub mod nn;
pub mod recipe;
pub mod run;

pub use self::core::backend::{Device, Storage};
pub use self::core::error::{Error, Result};
pub use self::core::tensor::{Tensor, no_grad};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
