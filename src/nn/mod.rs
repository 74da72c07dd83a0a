//! Neural-network building blocks on top of `core`: layers and `Sequential`, losses, optimizers and
//! learning-rate schedules, all as in PyTorch. Knows nothing of compression: pruning masks and fake
//! quantization are applied by the run around a model's forward (see `compress`, `run`).

pub mod layers;
pub mod loss;
pub mod optim;
pub mod schedule;

pub use layers::*;
