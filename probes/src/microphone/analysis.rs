//! What a stretch of audio says: its level (RMS and peak, in dBFS), clipping and DC offset.
//! No I/O and no clock: samples in, figures out.
//!
//! Samples are interleaved floats with full scale at ±1.0 (what cpal converts every format to:
//! a 16-bit -32768 is -1.0). Levels are 20·log10 of the RMS (over every sample of every channel)
//! and of the largest magnitude; a sine at full scale is -3.0 dBFS RMS, 0 dBFS peak. Nothing is
//! quieter than [`FLOOR_DBFS`]: digital silence reads as that floor.
//!
//! - **clipping**: runs of at least [`CLIP_RUN`] consecutive samples of one channel at full
//!   scale (magnitude at least [`FULL_SCALE`]): a loud but clean signal touches full scale for a
//!   sample at most; an overdriven one sits on it.
//! - **DC offset**: the mean of each channel (as a fraction of full scale); the largest is
//!   reported.

/// A sample at or above this magnitude is at full scale (-0.009 dBFS; 16-bit 32767 is
/// 0.99997).
pub const FULL_SCALE: f32 = 0.999;
/// This many consecutive full-scale samples in one channel are a clipped run.
pub const CLIP_RUN: usize = 3;
/// The lowest level reported.
pub const FLOOR_DBFS: f64 = -120.0;

/// What a stretch of audio measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Levels {
    /// Frames (one sample per channel each).
    pub frames: u64,
    /// Channels.
    pub channels: u16,
    /// RMS over every sample, dBFS.
    pub rms_dbfs: f64,
    /// The largest magnitude, dBFS.
    pub peak_dbfs: f64,
    /// Samples in clipped runs.
    pub clipped_samples: u64,
    /// Clipped runs.
    pub clipped_runs: u64,
    /// The largest channel mean, as a fraction of full scale (signed).
    pub dc_offset: f64,
}

impl Levels {
    /// The share of samples in clipped runs (0 to 1).
    pub fn clipped_share(&self) -> f64 {
        let samples = self.frames * u64::from(self.channels.max(1));
        if samples == 0 {
            0.0
        } else {
            self.clipped_samples as f64 / samples as f64
        }
    }
}

/// The running analysis of one capture.
#[derive(Clone, Debug)]
pub struct LevelAnalysis {
    channels: usize,
    /// Samples taken so far (all channels); the next one's channel is `taken % channels`.
    taken: u64,
    sum_squares: f64,
    peak: f32,
    channel_sums: Vec<f64>,
    runs: Vec<usize>,
    clipped_samples: u64,
    clipped_runs: u64,
}

impl LevelAnalysis {
    /// An analysis of audio with this many interleaved channels.
    pub fn new(channels: u16) -> LevelAnalysis {
        let channels = usize::from(channels.max(1));
        LevelAnalysis {
            channels,
            taken: 0,
            sum_squares: 0.0,
            peak: 0.0,
            channel_sums: vec![0.0; channels],
            runs: vec![0; channels],
            clipped_samples: 0,
            clipped_runs: 0,
        }
    }

    /// Frames taken so far.
    pub fn frames(&self) -> u64 {
        self.taken / self.channels as u64
    }

    /// Takes interleaved samples (a chunk may end in the middle of a frame).
    pub fn add(&mut self, samples: &[f32]) {
        for &sample in samples {
            let channel = (self.taken % self.channels as u64) as usize;
            self.taken += 1;
            let sample = if sample.is_finite() { sample } else { 0.0 };
            let magnitude = sample.abs();
            self.sum_squares += f64::from(sample) * f64::from(sample);
            self.peak = self.peak.max(magnitude);
            self.channel_sums[channel] += f64::from(sample);
            if magnitude >= FULL_SCALE {
                self.runs[channel] += 1;
                match self.runs[channel] {
                    CLIP_RUN => {
                        self.clipped_runs += 1;
                        self.clipped_samples += CLIP_RUN as u64;
                    }
                    run if run > CLIP_RUN => self.clipped_samples += 1,
                    _ => {}
                }
            } else {
                self.runs[channel] = 0;
            }
        }
    }

    /// The figures so far.
    pub fn levels(&self) -> Levels {
        let frames = self.frames();
        let per_channel = self.taken as f64 / self.channels as f64;
        let dc_offset = if per_channel > 0.0 {
            self.channel_sums
                .iter()
                .map(|sum| sum / per_channel)
                .fold(0.0f64, |largest, mean| {
                    if mean.abs() > largest.abs() {
                        mean
                    } else {
                        largest
                    }
                })
        } else {
            0.0
        };
        let rms = if self.taken > 0 {
            (self.sum_squares / self.taken as f64).sqrt()
        } else {
            0.0
        };
        Levels {
            frames,
            channels: self.channels as u16,
            rms_dbfs: dbfs(rms),
            peak_dbfs: dbfs(f64::from(self.peak)),
            clipped_samples: self.clipped_samples,
            clipped_runs: self.clipped_runs,
            dc_offset,
        }
    }
}

/// A magnitude relative to full scale, in dB, no lower than [`FLOOR_DBFS`].
pub fn dbfs(magnitude: f64) -> f64 {
    if magnitude <= 0.0 {
        FLOOR_DBFS
    } else {
        (20.0 * magnitude.log10()).max(FLOOR_DBFS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` of a stereo sine at `hz` with peak `amplitude`, then clipped to ±`limit`.
    fn sine(amplitude: f64, hz: f64, seconds: f64, limit: f64) -> Vec<f32> {
        let rate = 48_000.0;
        let frames = (rate * seconds) as usize;
        let mut out = Vec::with_capacity(frames * 2);
        for n in 0..frames {
            let value = (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / rate).sin())
                .clamp(-limit, limit) as f32;
            out.push(value);
            out.push(value);
        }
        out
    }

    #[test]
    fn a_sine_reads_at_its_rms_and_peak() {
        let mut analysis = LevelAnalysis::new(2);
        // -20 dBFS peak: 0.1; RMS 0.1/√2 = -23.01 dBFS.
        let samples = sine(0.1, 440.0, 0.5, 1.0);
        // In uneven chunks, split inside frames.
        for chunk in samples.chunks(333) {
            analysis.add(chunk);
        }
        let levels = analysis.levels();
        assert_eq!(levels.frames, 24_000);
        assert!((levels.rms_dbfs + 23.01).abs() < 0.01, "{levels:?}");
        assert!((levels.peak_dbfs + 20.0).abs() < 0.01, "{levels:?}");
        assert_eq!(levels.clipped_runs, 0);
        assert!(levels.dc_offset.abs() < 1e-3);
    }

    #[test]
    fn silence_reads_at_the_floor() {
        let mut analysis = LevelAnalysis::new(1);
        analysis.add(&[0.0; 4800]);
        let levels = analysis.levels();
        assert_eq!(
            (levels.rms_dbfs, levels.peak_dbfs),
            (FLOOR_DBFS, FLOOR_DBFS)
        );
        assert_eq!(LevelAnalysis::new(2).levels().rms_dbfs, FLOOR_DBFS);
        // Quiet noise is quiet, not the floor.
        let mut analysis = LevelAnalysis::new(1);
        analysis.add(&[0.0001, -0.0001].repeat(100));
        assert!((analysis.levels().rms_dbfs + 80.0).abs() < 0.01);
    }

    #[test]
    fn an_overdriven_sine_clips_and_a_clean_full_scale_one_does_not() {
        // Four times full scale, clipped: flat tops of many samples.
        let mut clipped = LevelAnalysis::new(2);
        clipped.add(&sine(4.0, 440.0, 0.5, 1.0));
        let levels = clipped.levels();
        // 440 Hz: 880 flat tops a second in each of 2 channels.
        assert_eq!(levels.clipped_runs, 880, "{levels:?}");
        assert!(levels.clipped_share() > 0.5, "{levels:?}");
        // A clean sine peaking at full scale touches it one sample at a time.
        let mut clean = LevelAnalysis::new(2);
        clean.add(&sine(1.0, 441.0, 0.5, 1.0));
        assert_eq!(clean.levels().clipped_runs, 0);
    }

    #[test]
    fn dc_offset_is_the_largest_channel_mean() {
        let mut analysis = LevelAnalysis::new(2);
        analysis.add(&[0.1, -0.3].repeat(1000));
        assert!((analysis.levels().dc_offset + 0.3).abs() < 1e-6);
        // NaN and infinities count as silence rather than poisoning the figures.
        analysis.add(&[f32::NAN, f32::INFINITY]);
        assert!(analysis.levels().rms_dbfs.is_finite());
    }
}
