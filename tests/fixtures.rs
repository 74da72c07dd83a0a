//! Native run of the PyTorch fixtures (tests/reference/harness.rs holds the cases and the checks;
//! tests/web.rs and tests/web_worker.rs run the same harness in headless Chromium).

#[path = "reference/harness.rs"]
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
