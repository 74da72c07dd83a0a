//! The one random-number source: a counter-based hash on 32-bit integers, so that the WGSL backend
//! computes the same dropout masks bit for bit (WGSL has no 64-bit integers).
//!
//! `bits(seed, i)` is a pure function of (seed, counter); [`Rng`] walks the counter for sequential use
//! (initialization, shuffles, generated datasets).

/// PCG-RXS-M-XS hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", JCGT 2020).
#[inline]
pub fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// 32 random bits for element `counter` of the stream `seed`: `pcg(pcg(seed) ^ counter)` fed twice
/// through the hash so that neighbouring counters decorrelate.
#[inline]
pub fn bits(seed: u32, counter: u32) -> u32 {
    pcg(pcg(seed) ^ pcg(counter.wrapping_add(0x9E37_79B9)))
}

/// Uniform in [0, 1) with 24 bits of precision: `(bits >> 8) · 2⁻²⁴`.
#[inline]
pub fn uniform(seed: u32, counter: u32) -> f32 {
    (bits(seed, counter) >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Folds a 64-bit user seed and a stream id into a 32-bit stream seed.
pub fn stream(seed: u64, id: u32) -> u32 {
    pcg((seed as u32) ^ pcg((seed >> 32) as u32 ^ pcg(id)))
}

/// Sequential generator over one stream.
#[derive(Debug, Clone)]
pub struct Rng {
    seed: u32,
    counter: u32,
}

impl Rng {
    /// A generator for stream `id` of the run seeded with `seed`.
    pub fn new(seed: u64, id: u32) -> Self {
        Rng { seed: stream(seed, id), counter: 0 }
    }

    pub fn next_u32(&mut self) -> u32 {
        let v = bits(self.seed, self.counter);
        self.counter = self.counter.wrapping_add(1);
        v
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal by Box–Muller.
    pub fn normal(&mut self) -> f32 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * crate::core::math::ln(u1)).sqrt() * crate::core::math::cos(std::f32::consts::TAU * u2)
    }

    /// Uniform integer in [0, n) (n > 0), by Lemire's multiply-shift.
    pub fn below(&mut self, n: u32) -> u32 {
        ((self.next_u32() as u64 * n as u64) >> 32) as u32
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_balanced() {
        let mut r = Rng::new(42, 0);
        let xs: Vec<f32> = (0..100_000).map(|_| r.uniform()).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u32> = (0..8).map(|i| bits(7, i)).collect();
        let b: Vec<u32> = (0..8).map(|i| bits(7, i)).collect();
        let c: Vec<u32> = (0..8).map(|i| bits(8, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
