//! Training on the WGSL backend (Mesa lavapipe natively): the spiral and digits presets end within
//! one accuracy point of the CPU run with the same seed, and a training step costs one submit and no
//! readback unless metrics are due. Skips with a printed reason where no adapter exists.

use minnow::recipe::{Recipe, preset};
use minnow::run::trainer::Trainer;
use minnow::{Device, Result};

fn final_accuracy(recipe: &Recipe, dev: Device) -> Result<f32> {
    let mut t = Trainer::with_device(recipe.clone(), None, dev, String::new())?;
    let r = pollster::block_on(t.run(|_| {}))?;
    Ok(r.final_metrics.test_accuracy)
}

fn compare(name: &str, epochs: u32) {
    let Some(g) = crate::gpu_device() else { return };
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
    let Some(g) = crate::gpu_device() else { return };
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

#[test]
fn a_lost_device_hands_the_run_to_the_cpu() {
    let Some(g) = crate::gpu_device() else { return };
    let mut r = preset("spiral-mlp").unwrap();
    r.training.epochs = 12;
    let mut t = Trainer::with_device(r, None, Device::Gpu(g.clone()), String::new()).unwrap();
    while t.history.len() < 3 {
        pollster::block_on(t.step(64)).unwrap();
    }
    let before: Vec<f32> = t.history.iter().map(|m| m.train_loss).collect();
    pollster::block_on(t.step(3)).unwrap(); // part of epoch 4, then the device goes away
    g.destroy();
    let mut notices = Vec::new();
    while !t.done() {
        let info = pollster::block_on(t.step(64)).unwrap();
        notices.extend(info.notice);
    }
    assert_eq!(t.device.name(), "cpu");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("epoch 4") && notices[0].contains("weights of epoch 3"), "{}", notices[0]);
    assert!(t.backend_note.contains("GPU was lost"), "{}", t.backend_note);
    assert_eq!(t.history.len(), 12);
    let kept: Vec<f32> = t.history[..3].iter().map(|m| m.train_loss).collect();
    assert_eq!(kept, before, "epochs before the loss are kept as they were");
    let last = t.history.last().unwrap();
    assert!(last.train_loss < before[0], "training went on: {} vs {}", last.train_loss, before[0]);
}

#[test]
fn auto_prefers_the_cpu_over_a_software_adapter() {
    let Some(g) = crate::gpu_device() else { return };
    let (dev, note) =
        pollster::block_on(minnow::run::trainer::select_device(minnow::recipe::BackendChoice::Auto)).unwrap();
    if g.is_software() {
        assert_eq!(dev.name(), "cpu");
        assert!(note.contains("software"), "{note}");
    } else {
        assert_eq!(dev.name(), "gpu", "{note}");
    }
}

/// Pruning on the GPU: the masks equal the CPU's for the same weights (the initial training barely
/// moves them, so both backends prune the same magnitudes), and masked training keeps every pruned
/// weight exactly zero on the device.
#[test]
fn gpu_pruning_masks_match_the_cpu_and_stay_zero() {
    let Some(g) = crate::gpu_device() else { return };
    let mut r = preset("spiral-mlp").unwrap();
    r.training.epochs = 1;
    r.training.optimizer = serde_json::from_str(r#"{"kind": "sgd", "lr": 1e-6}"#).unwrap();
    r.compression = serde_json::from_str(
        r#"[{"kind": "magnitude", "amount": 0.8, "scope": "global"},
            {"kind": "finetune", "epochs": 2, "lr": 0.05}]"#,
    )
    .unwrap();
    let run = |dev: Device| {
        let mut t = Trainer::with_device(r.clone(), None, dev, String::new()).unwrap();
        pollster::block_on(t.run(|_| {})).unwrap();
        t
    };
    let (cpu, gpu_run) = (run(Device::Cpu), run(Device::Gpu(g)));
    let mut compared = 0;
    for (name, mask) in cpu.masks.iter() {
        let other = gpu_run.masks.get(name).expect("the GPU run has the same masked parameters");
        assert_eq!(mask, other, "{name}: masks differ");
        let w = minnow::nn::Module::parameters(&gpu_run.model)
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .to_vec_blocking()
            .unwrap();
        assert!(
            w.iter().zip(mask).all(|(&x, &m)| m != 0.0 || x == 0.0),
            "{name}: a pruned weight moved on the GPU"
        );
        compared += 1;
    }
    assert_eq!(compared, 3, "every linear weight is masked");
}
