//! The shipped presets reach the accuracy the README promises, on the CPU backend, trained exactly
//! as the page and the CLI train them (the test profile is optimized).

use minnow::recipe::{BackendChoice, preset};
use minnow::run::trainer::Trainer;

fn accuracy(name: &str) -> f32 {
    let mut r = preset(name).unwrap();
    r.backend = BackendChoice::Cpu;
    let mut t = pollster::block_on(Trainer::new(r, None)).unwrap();
    let report = pollster::block_on(t.run(|_| {})).unwrap();
    println!("{name}: test accuracy {:.4}", report.final_metrics.test_accuracy);
    report.final_metrics.test_accuracy
}

#[test]
fn spiral_mlp_reaches_95() {
    assert!(accuracy("spiral-mlp") >= 0.95);
}

#[test]
fn digits_mlp_reaches_95() {
    assert!(accuracy("digits-mlp") >= 0.95);
}

#[test]
fn mnist_mlp_reaches_94() {
    assert!(accuracy("mnist-mlp") >= 0.94);
}

#[test]
fn mnist_cnn_reaches_96() {
    assert!(accuracy("mnist-cnn") >= 0.96);
}
