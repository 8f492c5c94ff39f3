//! The animated test pattern: scrolling colour bands over a vertical gradient with a bouncing
//! white square, built from a precomputed strip so that each frame costs about one copy.
//!
//! The first 8 bytes of every frame carry the moment it was handed over (CLOCK_MONOTONIC, in
//! nanoseconds, little-endian), from which a client on the same machine computes latency.

/// Generates frames of one size.
pub struct Pattern {
    width: usize,
    height: usize,
    /// `height` rows of `2 * width` pixels: a frame is a `width`-wide window into it.
    strip: Vec<u8>,
}

fn hue(t: f32) -> [f32; 3] {
    let h = (t.fract() + 1.0).fract() * 6.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    match h as u32 {
        0 => [1.0, x, 0.0],
        1 => [x, 1.0, 0.0],
        2 => [0.0, 1.0, x],
        3 => [0.0, x, 1.0],
        4 => [x, 0.0, 1.0],
        _ => [1.0, 0.0, x],
    }
}

impl Pattern {
    /// Precomputes the pattern for `width` x `height` frames.
    pub fn new(width: u32, height: u32) -> Pattern {
        let (w, h) = (width as usize, height as usize);
        let mut strip = vec![0u8; h * 2 * w * 3];
        let row_len = 2 * w * 3;
        let colours: Vec<[f32; 3]> = (0..w).map(|x| hue(x as f32 / w as f32)).collect();
        for (y, row) in strip.chunks_exact_mut(row_len).enumerate() {
            let shade = 0.25 + 0.75 * (1.0 - y as f32 / h.max(1) as f32);
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let c = colours[x % w];
                let band = if (x % w) / (w / 16).max(1) % 2 == 0 {
                    1.0
                } else {
                    0.8
                };
                for i in 0..3 {
                    px[i] = (c[i] * shade * band * 255.0) as u8;
                }
            }
        }
        Pattern {
            width: w,
            height: h,
            strip,
        }
    }

    /// Bytes in one frame.
    pub fn frame_len(&self) -> usize {
        self.width * self.height * 3
    }

    /// Writes frame `n` into `out` (`frame_len()` bytes) and stamps it with the current time.
    pub fn render(&self, n: u64, out: &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let row = w * 3;
        let shift = (n as usize * 4) % w;
        for (y, dst) in out.chunks_exact_mut(row).enumerate() {
            let src = &self.strip[y * 2 * row + shift * 3..][..row];
            dst.copy_from_slice(src);
        }
        // A bouncing square, a tenth of the height.
        let side = (h / 10).max(1).min(w);
        let span_x = (w - side).max(1);
        let span_y = (h - side).max(1);
        let bounce = |t: usize, span: usize| {
            let p = t % (2 * span);
            if p < span {
                p
            } else {
                2 * span - p
            }
        };
        let bx = bounce(n as usize * 7, span_x);
        let by = bounce(n as usize * 5, span_y);
        for y in by..(by + side).min(h) {
            out[y * row + bx * 3..][..side * 3].fill(255);
        }
        stamp(out);
    }
}

/// The system-wide monotonic clock in nanoseconds: comparable between processes on one
/// machine.
pub fn monotonic_ns() -> u64 {
    shared_memory_image_client::monotonic_ns()
}

/// Writes the current time into the first 8 bytes of a frame (frames of fewer than 3 pixels
/// carry no stamp).
pub fn stamp(frame: &mut [u8]) {
    if frame.len() >= 9 {
        frame[..8].copy_from_slice(&monotonic_ns().to_le_bytes());
    }
}

/// The send time stamped into a frame by [`stamp`], if the frame is large enough to carry one.
pub fn read_stamp(frame: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = frame.get(..8)?.try_into().ok()?;
    (frame.len() >= 9).then(|| u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_differ_over_time_and_carry_a_stamp() {
        let p = Pattern::new(64, 32);
        let mut a = vec![0u8; p.frame_len()];
        let mut b = vec![0u8; p.frame_len()];
        p.render(0, &mut a);
        p.render(1, &mut b);
        assert_ne!(a[8..], b[8..]);
        let (sa, sb) = (read_stamp(&a).unwrap(), read_stamp(&b).unwrap());
        assert!(sb >= sa && sa > 0);
        let tiny = Pattern::new(1, 1);
        let mut t = vec![0u8; 3];
        tiny.render(3, &mut t);
        assert_eq!(read_stamp(&t), None);
    }
}
