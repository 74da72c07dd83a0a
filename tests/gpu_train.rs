//! Training on the WGSL backend (Mesa lavapipe natively): the spiral and digits presets end within
//! one accuracy point of the CPU run with the same seed, and a training step costs one submit and no
//! readback unless metrics are due. Skips with a printed reason where no adapter exists.

use minnow::backend::gpu::GpuDevice;
use minnow::recipe::{Recipe, preset};
use minnow::trainer::Trainer;
use minnow::{Device, Result};

fn gpu() -> Option<GpuDevice> {
    match pollster::block_on(GpuDevice::new()) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(std::env::var("MINNOW_REQUIRE_GPU").is_err(), "no GPU adapter: {e}");
            println!("SKIPPED: no GPU adapter ({e})");
            None
        }
    }
}

fn final_accuracy(recipe: &Recipe, dev: Device) -> Result<f32> {
    let mut t = Trainer::with_device(recipe.clone(), None, dev, String::new())?;
    let r = pollster::block_on(t.run(|_| {}))?;
    Ok(r.final_metrics.test_accuracy)
}

fn compare(name: &str, epochs: u32) {
    let Some(g) = gpu() else { return };
    let mut r = preset(name).unwrap();
    r.training.epochs = epochs;
    let cpu = final_accuracy(&r, Device::Cpu).unwrap();
    let gpu = final_accuracy(&r, Device::Gpu(g)).unwrap();
    println!("{name}: cpu {cpu:.4}, gpu {gpu:.4}");
    assert!((cpu - gpu).abs() <= 0.01, "{name}: cpu {cpu} vs gpu {gpu}");
}

#[test]
fn spiral_on_gpu_matches_cpu() {
    compare("spiral-mlp", 100);
}

#[test]
fn digits_on_gpu_matches_cpu() {
    compare("digits-mlp", 30);
}

#[test]
fn a_step_is_one_submit_and_no_readback() {
    let Some(g) = gpu() else { return };
    let mut r = preset("digits-mlp").unwrap();
    r.training.metrics_every = 1000;
    let mut t = Trainer::with_device(r, None, Device::Gpu(g.clone()), String::new()).unwrap();
    pollster::block_on(t.step(2)).unwrap(); // warm-up: pipelines, pool
    let (before, steps) = (g.stats(), 10);
    let info = pollster::block_on(t.step(steps)).unwrap();
    assert!(info.epoch_end.is_none() && info.loss.is_none(), "no metrics were due");
    let after = g.stats();
    println!(
        "{steps} steps: {} submits, {} readbacks",
        after.submits - before.submits,
        after.readbacks - before.readbacks
    );
    assert_eq!(after.submits - before.submits, steps as u64, "one submit per step");
    assert_eq!(after.readbacks, before.readbacks, "no readback without metrics");
    let (before, _) = (g.stats(), pollster::block_on(t.step(0)).unwrap());
    assert_eq!(g.stats().readbacks - before.readbacks, 1, "a metrics read is one readback");
}
