//! What a run of frames says: how many arrived and at what rate, how bright they were, whether
//! they were black, whether the picture froze. No I/O and no clock: each frame comes with the
//! instant it arrived.
//!
//! Each frame is reduced to a grid of [`GRID_COLUMNS`] × [`GRID_ROWS`] luma samples (Y of YUYV
//! and NV12, the value of GRAY, Rec.601 luma of RGB and BGR), so the cost per frame does not
//! grow with the resolution. MJPEG frames are decoded (luma only) at most every
//! [`MJPEG_LUMA_INTERVAL`]; every MJPEG frame is still compared with the one before through a
//! hash of its bytes.
//!
//! - **black**: a frame whose mean luma is below [`BLACK_LUMA`] (of 255, as delivered: black in
//!   the video range is 16, and a covered lens adds a little noise);
//! - **frozen**: a frame identical to the one before (its whole luma grid, or its MJPEG bytes):
//!   a live sensor's noise never repeats exactly, a stuck driver's buffer does. The longest
//!   stretch of time the picture stayed the same is kept.

use std::time::{Duration, Instant};

use super::{Frame, PixelFormat};

/// Luma samples across a frame.
pub const GRID_COLUMNS: usize = 64;
/// Luma samples down a frame.
pub const GRID_ROWS: usize = 36;
/// A frame whose mean luma (0-255) is below this is black.
pub const BLACK_LUMA: f64 = 24.0;
/// MJPEG frames are decoded for their brightness at most this often.
pub const MJPEG_LUMA_INTERVAL: Duration = Duration::from_millis(200);

/// What the frames of one capture showed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Frames delivered.
    pub frames: u32,
    /// From the first frame to the last.
    pub span: Duration,
    /// Frames a second over the span (`None` with fewer than two frames).
    pub fps: Option<f64>,
    /// Frames whose brightness was measured.
    pub luma_frames: u32,
    /// Of those, the black ones.
    pub black_frames: u32,
    /// Mean luma (0-255) of the measured frames.
    pub mean_luma: Option<f64>,
    /// Frames identical to the one before.
    pub frozen_frames: u32,
    /// The longest time the picture stayed the same (from the first of identical frames to the
    /// last).
    pub longest_frozen: Duration,
    /// Frames that could not be read (too short for their size, an MJPEG that does not decode).
    pub unreadable_frames: u32,
}

#[derive(Clone, Debug, PartialEq)]
enum Fingerprint {
    Grid(Vec<u8>),
    Hash(u64),
}

/// The running analysis of one capture.
#[derive(Clone, Debug, Default)]
pub struct FrameAnalysis {
    first: Option<Instant>,
    last: Option<Instant>,
    frames: u32,
    previous: Option<Fingerprint>,
    run_start: Option<Instant>,
    frozen_frames: u32,
    longest_frozen: Duration,
    luma_sum: f64,
    luma_frames: u32,
    black_frames: u32,
    last_decoded: Option<Instant>,
    unreadable: u32,
}

impl FrameAnalysis {
    /// An analysis with no frame yet.
    pub fn new() -> FrameAnalysis {
        FrameAnalysis::default()
    }

    /// Takes a frame that arrived at `now`.
    pub fn add(&mut self, now: Instant, frame: &Frame<'_>) {
        self.frames += 1;
        self.first.get_or_insert(now);
        self.last = Some(now);
        let (fingerprint, luma) = match frame.pixel {
            PixelFormat::Mjpeg => {
                let due = self
                    .last_decoded
                    .is_none_or(|at| now.saturating_duration_since(at) >= MJPEG_LUMA_INTERVAL);
                let luma = if due {
                    self.last_decoded = Some(now);
                    match mjpeg_grid(&frame.data) {
                        Some(grid) => Some(mean(&grid)),
                        None => {
                            self.unreadable += 1;
                            None
                        }
                    }
                } else {
                    None
                };
                (Some(Fingerprint::Hash(hash(&frame.data))), luma)
            }
            _ => match luma_grid(frame) {
                Some(grid) => {
                    let luma = mean(&grid);
                    (Some(Fingerprint::Grid(grid)), Some(luma))
                }
                None => {
                    self.unreadable += 1;
                    (None, None)
                }
            },
        };
        if let Some(luma) = luma {
            self.luma_frames += 1;
            self.luma_sum += luma;
            if luma < BLACK_LUMA {
                self.black_frames += 1;
            }
        }
        let repeated = fingerprint.is_some() && fingerprint == self.previous;
        if repeated {
            self.frozen_frames += 1;
            let start = *self.run_start.get_or_insert(now);
            self.longest_frozen = self
                .longest_frozen
                .max(now.saturating_duration_since(start));
        } else {
            self.run_start = Some(now);
        }
        self.previous = fingerprint;
    }

    /// The figures so far.
    pub fn stats(&self) -> Stats {
        let span = match (self.first, self.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        let fps = (self.frames >= 2 && !span.is_zero())
            .then(|| f64::from(self.frames - 1) / span.as_secs_f64());
        Stats {
            frames: self.frames,
            span,
            fps,
            luma_frames: self.luma_frames,
            black_frames: self.black_frames,
            mean_luma: (self.luma_frames > 0).then(|| self.luma_sum / f64::from(self.luma_frames)),
            frozen_frames: self.frozen_frames,
            longest_frozen: self.longest_frozen,
            unreadable_frames: self.unreadable,
        }
    }
}

fn mean(grid: &[u8]) -> f64 {
    if grid.is_empty() {
        return 0.0;
    }
    grid.iter().map(|&v| f64::from(v)).sum::<f64>() / grid.len() as f64
}

/// FNV-1a over the bytes, 8 at a time.
fn hash(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        hash = (hash ^ word).wrapping_mul(0x0000_0100_0000_01B3);
    }
    for &byte in chunks.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash ^ data.len() as u64
}

/// The luma grid of an uncompressed frame; `None` when the data is too short for its size.
pub fn luma_grid(frame: &Frame<'_>) -> Option<Vec<u8>> {
    let (width, height) = (frame.width as usize, frame.height as usize);
    if width == 0 || height == 0 {
        return None;
    }
    let (bytes_per_pixel, needed) = match frame.pixel {
        PixelFormat::Yuyv => (2, width * height * 2),
        PixelFormat::Nv12 => (1, width * height * 3 / 2),
        PixelFormat::Gray => (1, width * height),
        PixelFormat::Rgb | PixelFormat::Bgr => (3, width * height * 3),
        PixelFormat::Mjpeg => return None,
    };
    if frame.data.len() < needed {
        return None;
    }
    let stride = width * bytes_per_pixel;
    let mut grid = Vec::with_capacity(GRID_COLUMNS * GRID_ROWS);
    for row in 0..GRID_ROWS {
        let y = (row * 2 + 1) * height / (GRID_ROWS * 2);
        for column in 0..GRID_COLUMNS {
            let x = (column * 2 + 1) * width / (GRID_COLUMNS * 2);
            let at = y * stride + x * bytes_per_pixel;
            let luma = match frame.pixel {
                PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::Gray => frame.data[at],
                PixelFormat::Rgb => rec601(frame.data[at], frame.data[at + 1], frame.data[at + 2]),
                PixelFormat::Bgr => rec601(frame.data[at + 2], frame.data[at + 1], frame.data[at]),
                PixelFormat::Mjpeg => 0,
            };
            grid.push(luma);
        }
    }
    Some(grid)
}

fn rec601(r: u8, g: u8, b: u8) -> u8 {
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    luma.round().clamp(0.0, 255.0) as u8
}

/// The luma grid of an MJPEG frame (decoded as luma only); `None` when it does not decode.
pub fn mjpeg_grid(data: &[u8]) -> Option<Vec<u8>> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = decoder.decode().ok()?;
    let (width, height) = decoder.dimensions()?;
    let frame = Frame {
        pixel: PixelFormat::Gray,
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
        data: pixels.into(),
    };
    luma_grid(&frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A YUYV frame with every Y at `luma`, plus a pixel that varies with `seed`.
    pub(crate) fn yuyv(width: u32, height: u32, luma: u8, seed: u32) -> Frame<'static> {
        let mut data = vec![128u8; (width * height * 2) as usize];
        for (i, byte) in data.iter_mut().enumerate() {
            if i % 2 == 0 {
                // Sensor noise: a value near `luma` that differs between seeds.
                let mixed =
                    ((i as u32) ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2_654_435_761);
                *byte = luma.saturating_add((mixed >> 29) as u8 % 4);
            }
        }
        Frame {
            pixel: PixelFormat::Yuyv,
            width,
            height,
            data: data.into(),
        }
    }

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn rate_and_brightness_of_a_live_picture() {
        let start = Instant::now();
        let mut analysis = FrameAnalysis::new();
        // 31 frames 33.3 ms apart: 30 frames a second over one second.
        for n in 0..31u32 {
            let frame = yuyv(640, 480, 120, n);
            analysis.add(start + Duration::from_micros(u64::from(n) * 33_333), &frame);
        }
        let stats = analysis.stats();
        assert_eq!(stats.frames, 31);
        assert!((stats.fps.unwrap() - 30.0).abs() < 0.01, "{stats:?}");
        assert_eq!(stats.black_frames, 0);
        assert_eq!(stats.frozen_frames, 0);
        assert!((stats.mean_luma.unwrap() - 121.5).abs() < 1.0, "{stats:?}");
    }

    #[test]
    fn black_frames_are_counted() {
        let start = Instant::now();
        let mut analysis = FrameAnalysis::new();
        for n in 0..10 {
            analysis.add(at(start, u64::from(n) * 66), &yuyv(320, 240, 16, n));
        }
        let stats = analysis.stats();
        assert_eq!((stats.luma_frames, stats.black_frames), (10, 10));
        assert!(stats.mean_luma.unwrap() < BLACK_LUMA);
    }

    #[test]
    fn a_repeated_frame_is_frozen_and_the_longest_stretch_is_kept() {
        let start = Instant::now();
        let mut analysis = FrameAnalysis::new();
        let moving = |n| yuyv(320, 240, 100, n);
        let stuck = yuyv(320, 240, 100, 999);
        // 0-3 live, 4-13 the same frame (300 ms from frame 4 to 13), 14-15 live, 16-18 stuck
        // again (60 ms).
        for n in 0..20u32 {
            let frame = match n {
                4..=13 | 16..=18 => stuck.clone(),
                _ => moving(n),
            };
            analysis.add(at(start, u64::from(n) * 30), &frame);
        }
        let stats = analysis.stats();
        assert_eq!(stats.frozen_frames, 9 + 2);
        assert_eq!(stats.longest_frozen, Duration::from_millis(270));
    }

    #[test]
    fn grids_of_each_uncompressed_format() {
        let gray = Frame {
            pixel: PixelFormat::Gray,
            width: 128,
            height: 72,
            data: vec![200; 128 * 72].into(),
        };
        assert!(luma_grid(&gray).unwrap().iter().all(|&v| v == 200));
        let nv12 = Frame {
            pixel: PixelFormat::Nv12,
            width: 128,
            height: 72,
            data: [vec![50; 128 * 72], vec![128; 128 * 36]].concat().into(),
        };
        assert!(luma_grid(&nv12).unwrap().iter().all(|&v| v == 50));
        let red = Frame {
            pixel: PixelFormat::Rgb,
            width: 64,
            height: 36,
            data: [255u8, 0, 0].repeat(64 * 36).into(),
        };
        assert!(luma_grid(&red).unwrap().iter().all(|&v| v == 76));
        let blue_as_bgr = Frame {
            pixel: PixelFormat::Bgr,
            width: 64,
            height: 36,
            data: [255u8, 0, 0].repeat(64 * 36).into(),
        };
        assert!(luma_grid(&blue_as_bgr).unwrap().iter().all(|&v| v == 29));
        let short = Frame {
            pixel: PixelFormat::Yuyv,
            width: 640,
            height: 480,
            data: vec![0; 100].into(),
        };
        assert_eq!(luma_grid(&short), None);
    }

    fn jpeg(luma: u8, width: u32, height: u32) -> Vec<u8> {
        let image = image::GrayImage::from_pixel(width, height, image::Luma([luma]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&image)
            .unwrap();
        out
    }

    #[test]
    fn mjpeg_frames_are_decoded_for_brightness_a_few_times_a_second() {
        let start = Instant::now();
        let mut analysis = FrameAnalysis::new();
        let dark = jpeg(5, 160, 120);
        let bright = jpeg(180, 160, 120);
        // 30 frames over ~1 s, alternating so that none repeats the one before.
        for n in 0..30u32 {
            let data = if n % 2 == 0 {
                dark.clone()
            } else {
                bright.clone()
            };
            let frame = Frame {
                pixel: PixelFormat::Mjpeg,
                width: 160,
                height: 120,
                data: data.into(),
            };
            analysis.add(at(start, u64::from(n) * 33), &frame);
        }
        let stats = analysis.stats();
        // Decoded at 0, 231, 462, 693, 924 ms: frames 0, 7, 14, 21, 28 (all dark but 7 and 21).
        assert_eq!(stats.luma_frames, 5, "{stats:?}");
        assert_eq!(stats.black_frames, 3, "{stats:?}");
        assert_eq!(stats.frozen_frames, 0);
        assert_eq!(stats.unreadable_frames, 0);
        let grid = mjpeg_grid(&bright).unwrap();
        assert!((mean(&grid) - 180.0).abs() < 2.0);
    }

    #[test]
    fn identical_mjpeg_frames_are_frozen_and_garbage_is_unreadable() {
        let start = Instant::now();
        let mut analysis = FrameAnalysis::new();
        let data = jpeg(90, 64, 48);
        for n in 0..5 {
            let frame = Frame {
                pixel: PixelFormat::Mjpeg,
                width: 64,
                height: 48,
                data: data.clone().into(),
            };
            analysis.add(at(start, n * 100), &frame);
        }
        analysis.add(
            at(start, 600),
            &Frame {
                pixel: PixelFormat::Mjpeg,
                width: 64,
                height: 48,
                data: vec![1, 2, 3].into(),
            },
        );
        let stats = analysis.stats();
        assert_eq!(stats.frozen_frames, 4);
        assert_eq!(stats.longest_frozen, Duration::from_millis(400));
        assert_eq!(stats.unreadable_frames, 1);
    }

    #[test]
    fn no_frames_and_one_frame_have_no_rate() {
        assert_eq!(FrameAnalysis::new().stats(), Stats::default());
        let mut analysis = FrameAnalysis::new();
        analysis.add(Instant::now(), &yuyv(64, 36, 80, 1));
        assert_eq!(analysis.stats().fps, None);
    }
}
