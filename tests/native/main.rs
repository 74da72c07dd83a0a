//! Every native integration test, as one test binary: each file below is a module that was once its
//! own `tests/*.rs` crate. One binary links minnow and wgpu once instead of sixteen times, which is
//! most of the clean-build time of `make test` (run one group with `cargo test --test native quant::`).
//! The browser suites stay separate (tests/web*.rs): each needs its own wasm-bindgen-test context.

mod cli;
mod data;
mod deep_compression;
mod distill;
mod end_to_end;
mod export;
mod fixtures;
mod gpu_ops;
mod gpu_train;
mod gradcheck;
mod int8;
mod int8_gpu;
mod presets;
mod prune;
mod quant;
mod recipe;
mod shaders_validate;
