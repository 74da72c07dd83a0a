//! Native run of the PyTorch fixtures (tests/reference/harness.rs holds the cases and the checks;
//! tests/web.rs and tests/web_worker.rs run the same harness in headless Chromium).

#[path = "../reference/harness.rs"]
mod harness;

#[test]
fn ops_match_pytorch() {
    harness::ops_match_pytorch();
}

#[test]
fn every_op_has_a_fixture() {
    harness::every_op_has_a_fixture();
}

#[test]
fn dropout_mask_is_counter_based() {
    harness::dropout_mask_is_counter_based();
}

#[test]
fn losses_match_pytorch() {
    harness::losses_match_pytorch();
}

#[test]
fn layers_match_pytorch() {
    harness::layers_match_pytorch();
}

#[test]
fn optimizers_match_pytorch() {
    harness::optimizers_match_pytorch();
}

#[test]
fn schedules_match_pytorch() {
    harness::schedules_match_pytorch();
}

/// The same fixtures on the WGSL backend (lavapipe natively). Skips with a printed reason where
/// no adapter exists.
mod gpu {
    use super::harness;

    fn device() -> Option<minnow::Device> {
        crate::gpu_device().map(minnow::Device::Gpu)
    }

    macro_rules! on_gpu {
        ($($name:ident),*) => {$(
            #[test]
            fn $name() {
                if let Some(d) = device() {
                    harness::on_device(d, harness::$name);
                }
            }
        )*};
    }

    on_gpu!(
        ops_match_pytorch,
        dropout_mask_is_counter_based,
        losses_match_pytorch,
        layers_match_pytorch,
        optimizers_match_pytorch
    );
}
