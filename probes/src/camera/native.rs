//! The camera backend that ships: nokhwa's native input (V4L2 on Linux, AVFoundation on macOS,
//! Media Foundation on Windows).
//!
//! nokhwa reports failures as text with the OS error inside (`V4L2 Error: Device or resource
//! busy (os error 16)`); [`DeviceError::from_text`] recovers the code and its class. Listing a
//! camera's formats opens it (V4L2 answers format queries on an open node), so a camera that
//! cannot be opened is listed with the reason instead of its formats. V4L2 nodes that offer no
//! capture format (the metadata nodes UVC cameras add beside each camera) are left out, as
//! browsers leave them out.

use std::borrow::Cow;
use std::path::PathBuf;

use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::{Camera, NokhwaError};

use super::{CameraBackend, CameraInfo, CameraStream, Frame, PixelFormat, VideoFormat};
use crate::devices::{Cause, DeviceError, Stage};

/// Every pixel layout the probe can analyse.
const FORMATS: &[FrameFormat] = &[
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::GRAY,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
    FrameFormat::MJPEG,
];

/// nokhwa's native camera API.
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeCameras;

fn pixel(format: FrameFormat) -> PixelFormat {
    match format {
        FrameFormat::YUYV => PixelFormat::Yuyv,
        FrameFormat::NV12 => PixelFormat::Nv12,
        FrameFormat::GRAY => PixelFormat::Gray,
        FrameFormat::RAWRGB => PixelFormat::Rgb,
        FrameFormat::RAWBGR => PixelFormat::Bgr,
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
    }
}

fn frame_format(pixel: PixelFormat) -> FrameFormat {
    match pixel {
        PixelFormat::Yuyv => FrameFormat::YUYV,
        PixelFormat::Nv12 => FrameFormat::NV12,
        PixelFormat::Gray => FrameFormat::GRAY,
        PixelFormat::Rgb => FrameFormat::RAWRGB,
        PixelFormat::Bgr => FrameFormat::RAWBGR,
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
    }
}

fn video_format(format: &CameraFormat) -> VideoFormat {
    VideoFormat {
        width: format.width(),
        height: format.height(),
        fps: format.frame_rate(),
        pixel: pixel(format.format()),
    }
}

/// A nokhwa error as a device error: the stage from its kind, the class from the OS code in
/// its text (else from its kind).
fn device_error(error: &NokhwaError, stage: Stage) -> DeviceError {
    let (stage, fallback) = match error {
        NokhwaError::OpenDeviceError(..) => (Stage::Open, Cause::Other),
        NokhwaError::GetPropertyError { .. } | NokhwaError::SetPropertyError { .. } => {
            (Stage::Configure, Cause::Other)
        }
        NokhwaError::OpenStreamError(_) => (Stage::Start, Cause::Other),
        NokhwaError::ReadFrameError(_) => (Stage::Capture, Cause::Failed),
        NokhwaError::UnsupportedOperationError(_) | NokhwaError::NotImplementedError(_) => {
            (stage, Cause::NoSubsystem)
        }
        _ => (stage, Cause::Other),
    };
    DeviceError::from_text(stage, error.to_string(), fallback)
}

fn index(id: &str) -> CameraIndex {
    id.parse::<u32>()
        .map_or_else(|_| CameraIndex::String(id.to_string()), CameraIndex::Index)
}

/// The node of a V4L2 camera (`Video4Linux Device @ /dev/video0`).
fn node(description: &str, index: &CameraIndex) -> Option<PathBuf> {
    if let Some((_, path)) = description.split_once(" @ ") {
        return Some(PathBuf::from(path.trim()));
    }
    match index {
        CameraIndex::Index(n) if cfg!(target_os = "linux") => {
            Some(PathBuf::from(format!("/dev/video{n}")))
        }
        _ => None,
    }
}

impl CameraBackend for NativeCameras {
    fn api(&self) -> String {
        nokhwa::native_api_backend().map_or_else(|| "none".to_string(), |api| api.to_string())
    }

    fn cameras(&self) -> Result<Vec<CameraInfo>, DeviceError> {
        let Some(api) = nokhwa::native_api_backend() else {
            return Err(DeviceError::new(
                Stage::List,
                Cause::NoSubsystem,
                format!("no camera API for {}", std::env::consts::OS),
            ));
        };
        if !nokhwa::nokhwa_check() {
            // macOS: the user (or an MDM profile) has not allowed this program the camera.
            return Err(DeviceError::new(
                Stage::List,
                Cause::Denied,
                "camera access is not authorised for this program (AVAuthorizationStatus)",
            ));
        }
        let listed = nokhwa::query(api).map_err(|error| device_error(&error, Stage::List))?;
        let mut cameras = Vec::new();
        for info in listed {
            let camera_index = info.index().clone();
            let id = match &camera_index {
                CameraIndex::Index(n) => n.to_string(),
                CameraIndex::String(text) => text.clone(),
            };
            let path = node(info.description(), &camera_index);
            let request = RequestedFormat::with_formats(RequestedFormatType::None, FORMATS);
            let (formats, formats_error) = match Camera::with_backend(camera_index, request, api) {
                Ok(mut camera) => match camera.compatible_camera_formats() {
                    Ok(formats) => {
                        let mut formats: Vec<VideoFormat> =
                            formats.iter().map(video_format).collect();
                        formats.sort();
                        formats.dedup();
                        (formats, None)
                    }
                    Err(error) => (Vec::new(), Some(device_error(&error, Stage::Configure))),
                },
                Err(error) => (Vec::new(), Some(device_error(&error, Stage::Open))),
            };
            if formats.is_empty() && formats_error.is_none() {
                continue;
            }
            let formats_error = formats_error.map(|error| match &path {
                Some(path) => error.on(path.display().to_string()),
                None => error,
            });
            cameras.push(CameraInfo {
                id,
                name: info.human_name(),
                path,
                default: false,
                formats,
                formats_error,
            });
        }
        cameras.sort_by(|a, b| {
            let key = |camera: &CameraInfo| camera.id.parse::<u32>().ok();
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        });
        if let Some(first) = cameras.first_mut() {
            first.default = true;
        }
        Ok(cameras)
    }

    fn open(
        &self,
        camera: &CameraInfo,
        format: &VideoFormat,
    ) -> Result<Box<dyn CameraStream>, DeviceError> {
        let wanted = CameraFormat::new_from(
            format.width,
            format.height,
            frame_format(format.pixel),
            format.fps,
        );
        let formats = [frame_format(format.pixel)];
        let request = RequestedFormat::with_formats(RequestedFormatType::Exact(wanted), &formats);
        let mut device = Camera::new(index(&camera.id), request)
            .map_err(|error| device_error(&error, Stage::Open))?;
        device
            .open_stream()
            .map_err(|error| device_error(&error, Stage::Start))?;
        let granted = video_format(&device.camera_format());
        Ok(Box::new(NativeStream { device, granted }))
    }
}

struct NativeStream {
    device: Camera,
    granted: VideoFormat,
}

impl CameraStream for NativeStream {
    fn granted(&self) -> VideoFormat {
        self.granted
    }

    fn next_frame(&mut self) -> Result<Frame<'_>, DeviceError> {
        let granted = self.granted;
        let data: Cow<'_, [u8]> = self
            .device
            .frame_raw()
            .map_err(|error| device_error(&error, Stage::Capture))?;
        Ok(Frame {
            pixel: granted.pixel,
            width: granted.width,
            height: granted.height,
            data,
        })
    }
}

impl Drop for NativeStream {
    fn drop(&mut self) {
        let _ = self.device.stop_stream();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nokhwa::utils::ApiBackend;

    #[test]
    fn nokhwa_errors_keep_their_stage_and_os_error() {
        let error = device_error(
            &NokhwaError::OpenDeviceError(
                "0".into(),
                "V4L2 Error: Permission denied (os error 13)".into(),
            ),
            Stage::Open,
        );
        assert_eq!(error.stage, Stage::Open);
        if cfg!(target_os = "linux") {
            assert_eq!(error.cause, Cause::Denied);
            assert_eq!(error.os.map(|os| os.name), Some("EACCES"));
        }
        let error = device_error(
            &NokhwaError::ReadFrameError("Stream Not Started".into()),
            Stage::Capture,
        );
        assert_eq!((error.stage, error.cause), (Stage::Capture, Cause::Failed));
        let error = device_error(
            &NokhwaError::UnsupportedOperationError(ApiBackend::Video4Linux),
            Stage::List,
        );
        assert_eq!(error.cause, Cause::NoSubsystem);
    }

    #[test]
    fn node_paths_from_the_v4l2_description() {
        assert_eq!(
            node("Video4Linux Device @ /dev/video2", &CameraIndex::Index(2)),
            Some(PathBuf::from("/dev/video2"))
        );
        assert_eq!(index("3"), CameraIndex::Index(3));
        assert_eq!(
            index("0x1420000005ac8600"),
            CameraIndex::String("0x1420000005ac8600".into())
        );
    }

    /// This machine has no camera: the real backend lists none (and no error), so the probe
    /// reports that none was found.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_real_backend_on_a_machine_without_cameras_lists_none() {
        if std::fs::read_dir("/dev")
            .map(|entries| {
                entries
                    .flatten()
                    .any(|entry| entry.file_name().to_string_lossy().starts_with("video"))
            })
            .unwrap_or(false)
        {
            eprintln!(
                "this machine has a /dev/video* node: the no-camera case cannot be shown here"
            );
            return;
        }
        assert_eq!(NativeCameras.cameras(), Ok(vec![]));
        assert_eq!(NativeCameras.api(), "Video4Linux");
    }
}
