//! The CPU the device probes' analysis costs: per second of 720p video (30 fps, YUYV and MJPEG
//! frames) and per second of 48 kHz stereo audio, on one core, with no I/O. Run with
//!
//! ```text
//! cargo test --release -p preflight-probes --bench device_analysis -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use preflight_probes::camera::analysis::FrameAnalysis;
use preflight_probes::camera::{Frame, PixelFormat};
use preflight_probes::microphone::analysis::LevelAnalysis;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u32 = 30;
/// Seconds of video analysed per case.
const SECONDS: u32 = 20;

/// A 720p YUYV frame: a gradient with noise that differs with `seed`.
fn yuyv(seed: u32) -> Vec<u8> {
    let mut data = vec![128u8; (WIDTH * HEIGHT * 2) as usize];
    for (i, byte) in data.iter_mut().enumerate().step_by(2) {
        let pixel = i as u32 / 2;
        let x = pixel % WIDTH;
        let mixed = (pixel ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2_654_435_761);
        *byte = ((x * 200 / WIDTH) as u8).wrapping_add((mixed >> 29) as u8);
    }
    data
}

/// A 720p MJPEG frame (quality 80) of the same picture.
fn mjpeg(seed: u32) -> Vec<u8> {
    let luma = yuyv(seed);
    let image = image::GrayImage::from_fn(WIDTH, HEIGHT, |x, y| {
        image::Luma([luma[((y * WIDTH + x) * 2) as usize]])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&image)
        .unwrap();
    out
}

/// Analyses `SECONDS` of frames alternating between `frames`, arriving 1/30 s apart, and
/// returns the CPU time per second of video.
fn video(pixel: PixelFormat, frames: &[Vec<u8>]) -> Duration {
    let start = Instant::now();
    let mut analysis = FrameAnalysis::new();
    let clock = Instant::now();
    let total = SECONDS * FPS;
    for n in 0..total {
        let frame = Frame {
            pixel,
            width: WIDTH,
            height: HEIGHT,
            data: frames[n as usize % frames.len()].as_slice().into(),
        };
        analysis.add(
            clock + Duration::from_micros(u64::from(n) * 1_000_000 / u64::from(FPS)),
            black_box(&frame),
        );
    }
    let stats = black_box(analysis.stats());
    assert_eq!(stats.frames, total);
    start.elapsed() / SECONDS
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn analysis_cost() {
    let raw: Vec<Vec<u8>> = (0..4).map(yuyv).collect();
    let jpegs: Vec<Vec<u8>> = (0..4).map(mjpeg).collect();
    let yuyv_cost = video(PixelFormat::Yuyv, &raw);
    let mjpeg_cost = video(PixelFormat::Mjpeg, &jpegs);
    // One MJPEG frame decoded every time (the cost of the brightness read alone).
    let start = Instant::now();
    for _ in 0..100 {
        black_box(preflight_probes::camera::analysis::mjpeg_grid(black_box(
            &jpegs[0],
        )));
    }
    let decode = start.elapsed() / 100;

    let audio: Vec<f32> = (0..48_000 * 2)
        .map(|n| (n as f32 * 0.0654).sin() * 0.1)
        .collect();
    let start = Instant::now();
    let mut levels = LevelAnalysis::new(2);
    for _ in 0..SECONDS {
        for chunk in audio.chunks(960 * 2) {
            levels.add(black_box(chunk));
        }
    }
    black_box(levels.levels());
    let audio_cost = start.elapsed() / SECONDS;

    let share = |cost: Duration| 100.0 * cost.as_secs_f64();
    println!(
        "720p YUYV at 30 fps: {:.2} ms of CPU per second of video ({:.3} % of a core)",
        yuyv_cost.as_secs_f64() * 1000.0,
        share(yuyv_cost)
    );
    println!(
        "720p MJPEG at 30 fps ({} KiB frames): {:.2} ms of CPU per second of video ({:.3} % of a core; one luma decode {:.2} ms, at most 5 a second)",
        jpegs[0].len() / 1024,
        mjpeg_cost.as_secs_f64() * 1000.0,
        share(mjpeg_cost),
        decode.as_secs_f64() * 1000.0
    );
    println!(
        "48 kHz stereo audio: {:.3} ms of CPU per second of audio ({:.4} % of a core)",
        audio_cost.as_secs_f64() * 1000.0,
        share(audio_cost)
    );
}
