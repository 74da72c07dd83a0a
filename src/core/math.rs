//! Transcendental functions (exp, log, tanh, erf, pow, cos) that give the same bits on every target: the `libm` crate's pure-Rust
//! ports of musl. `f32::exp` and friends call the platform's C library instead (glibc natively, a
//! libm port on wasm32), whose last bits differ, so a CPU run in the CLI and the same run in the
//! page would drift apart by an ulp at a time. Everything the CPU backend, the initializers, the
//! schedules and the integer model compute goes through here; `+ − × ÷` and `sqrt` are correctly
//! rounded IEEE-754 everywhere and need no wrapper.

/// `eˣ`.
#[inline]
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

/// Natural logarithm.
#[inline]
pub fn ln(x: f32) -> f32 {
    libm::logf(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanh(x: f32) -> f32 {
    libm::tanhf(x)
}

/// The error function `erf(x) = 2/√π ∫₀ˣ e^(−t²) dt`.
#[inline]
pub fn erf(x: f32) -> f32 {
    libm::erff(x)
}

/// `xʸ`.
#[inline]
pub fn powf(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// Cosine (f32).
#[inline]
pub fn cos(x: f32) -> f32 {
    libm::cosf(x)
}

/// Cosine (f64, for learning-rate schedules).
#[inline]
pub fn cos64(x: f64) -> f64 {
    libm::cos(x)
}

/// `xʸ` (f64).
#[inline]
pub fn pow64(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// Base-10 logarithm (f64).
#[inline]
pub fn log10_64(x: f64) -> f64 {
    libm::log10(x)
}
