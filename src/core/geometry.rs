//! Geometry of the camera and of boxes: pinhole projection, frustum tests, depth-image occlusion.
//!
//! Owns [`PinholeCamera`], [`DepthImage`] and small helpers on nalgebra types. Camera-frame points
//! use the ROS optical convention (REP-103 `_optical_frame`): x right, y down, z forward, metres.

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

use super::error::CoreError;

/// A pinhole camera with its image size and usable depth range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PinholeCamera {
    /// Image width in pixels.
    pub width_px: u32,
    /// Image height in pixels.
    pub height_px: u32,
    /// Focal length along x, pixels.
    pub fx_px: f64,
    /// Focal length along y, pixels.
    pub fy_px: f64,
    /// Principal point x, pixels.
    pub cx_px: f64,
    /// Principal point y, pixels.
    pub cy_px: f64,
    /// Nearest depth the sensor/detector reports, metres.
    pub min_depth_m: f64,
    /// Farthest depth the sensor/detector reports, metres.
    pub max_depth_m: f64,
}

impl PinholeCamera {
    /// A 640x480 camera with a 525 px focal length (Kinect-like) and a 0.3-5 m range.
    pub fn vga_default() -> Self {
        Self {
            width_px: 640,
            height_px: 480,
            fx_px: 525.0,
            fy_px: 525.0,
            cx_px: 319.5,
            cy_px: 239.5,
            min_depth_m: 0.3,
            max_depth_m: 5.0,
        }
    }

    /// Checks that the model can project.
    ///
    /// # Errors
    /// [`CoreError::InvalidCamera`] naming the bad field.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |reason: &str| {
            Err(CoreError::InvalidCamera {
                reason: reason.to_string(),
            })
        };
        if self.width_px == 0 || self.height_px == 0 {
            return bad("image size is zero");
        }
        if !(self.fx_px.is_finite()
            && self.fy_px.is_finite()
            && self.fx_px > 0.0
            && self.fy_px > 0.0)
        {
            return bad("focal lengths must be finite and > 0");
        }
        if !(self.cx_px.is_finite() && self.cy_px.is_finite()) {
            return bad("principal point must be finite");
        }
        if !(self.min_depth_m.is_finite()
            && self.max_depth_m.is_finite()
            && self.min_depth_m >= 0.0
            && self.max_depth_m > self.min_depth_m)
        {
            return bad("depth range must be finite with 0 <= min < max");
        }
        Ok(())
    }

    /// Projects a camera-frame point to pixel coordinates; `None` behind the camera.
    pub fn project(&self, point_camera: &Point3<f64>) -> Option<(f64, f64)> {
        if point_camera.z <= 1e-9 {
            return None;
        }
        let u = self.fx_px * point_camera.x / point_camera.z + self.cx_px;
        let v = self.fy_px * point_camera.y / point_camera.z + self.cy_px;
        Some((u, v))
    }

    /// Back-projects pixel `(u, v)` at depth `depth_m` (along the optical axis) to the camera frame.
    pub fn back_project(&self, u_px: f64, v_px: f64, depth_m: f64) -> Point3<f64> {
        Point3::new(
            (u_px - self.cx_px) * depth_m / self.fx_px,
            (v_px - self.cy_px) * depth_m / self.fy_px,
            depth_m,
        )
    }

    /// A ball enclosing everything the camera can see (the view frustum out to `max_depth_m`),
    /// centred on the optical axis: `(distance of the centre from the camera along the axis,
    /// radius)`, both in metres. It is the smallest such ball through the camera centre and the
    /// four corners of the far image plane, so it holds the whole frustum. For a usual field of
    /// view its radius is well under `max_depth_m` (VGA at 525 px focal length: 3.95 m for 5 m),
    /// while a ball of radius `max_depth_m` around the camera holds twice the volume and still
    /// misses the far corners (6.3 m from the camera).
    pub fn frustum_ball(&self) -> (f64, f64) {
        let d = self.max_depth_m;
        let corner2 = |u: f64, v: f64| {
            let x = (u - self.cx_px) / self.fx_px * d;
            let y = (v - self.cy_px) / self.fy_px * d;
            x * x + y * y
        };
        let (w, h) = (f64::from(self.width_px), f64::from(self.height_px));
        let lateral2 = corner2(0.0, 0.0)
            .max(corner2(w, 0.0))
            .max(corner2(0.0, h))
            .max(corner2(w, h));
        // Equidistant from the camera centre and the far corners: t = (l^2 + d^2) / 2d, unless
        // that lies beyond the far plane (a field of view wider than 90 degrees).
        let t = ((lateral2 + d * d) / (2.0 * d)).min(d);
        let radius = t.max((lateral2 + (d - t) * (d - t)).sqrt());
        (t, radius)
    }

    /// Whether a camera-frame point projects inside the image, at least `margin_px` from every
    /// border, and lies inside the depth range.
    pub fn sees(&self, point_camera: &Point3<f64>, margin_px: f64) -> bool {
        if point_camera.z < self.min_depth_m || point_camera.z > self.max_depth_m {
            return false;
        }
        match self.project(point_camera) {
            Some((u, v)) => {
                u >= margin_px
                    && v >= margin_px
                    && u <= self.width_px as f64 - 1.0 - margin_px
                    && v <= self.height_px as f64 - 1.0 - margin_px
            }
            None => false,
        }
    }
}

/// A depth image in metres aligned with a camera (possibly downsampled: its size may differ from
/// the camera's; pixels are scaled). Zero, negative or non-finite values mean "no return".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthImage {
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
    /// Row-major depth along the optical axis, metres.
    pub depth_m: Vec<f32>,
}

impl DepthImage {
    /// Scale from camera pixels to this image's pixels; `None` for empty images or cameras.
    fn scale(&self, camera: &PinholeCamera) -> Option<(f64, f64)> {
        if self.width_px == 0
            || self.height_px == 0
            || camera.width_px == 0
            || camera.height_px == 0
        {
            return None;
        }
        Some((
            f64::from(self.width_px) / f64::from(camera.width_px),
            f64::from(self.height_px) / f64::from(camera.height_px),
        ))
    }

    /// Depth of this image's pixel `(x, y)`, when it has a return.
    fn at(&self, x: usize, y: usize) -> Option<f64> {
        let d = f64::from(*self.depth_m.get(y * self.width_px as usize + x)?);
        (d.is_finite() && d > 0.0).then_some(d)
    }

    /// Depth at the camera pixel `(u, v)` (in the camera's full-resolution coordinates).
    /// `None` when outside, when the buffer is short, or when the pixel has no return.
    pub fn depth_at(&self, camera: &PinholeCamera, u_px: f64, v_px: f64) -> Option<f64> {
        let (sx, sy) = self.scale(camera)?;
        let x = (u_px * sx).floor();
        let y = (v_px * sy).floor();
        if x < 0.0 || y < 0.0 || x >= f64::from(self.width_px) || y >= f64::from(self.height_px) {
            return None;
        }
        self.at(x as usize, y as usize)
    }

    /// Fraction of the pixels with a return within `radius_px` (camera pixels) of `(u, v)`
    /// whose depth is at least `depth_m`: 1.0 means nothing stands in front of that depth
    /// around the point. `None` when no pixel in the window has a return.
    pub fn unoccluded_fraction(
        &self,
        camera: &PinholeCamera,
        u_px: f64,
        v_px: f64,
        radius_px: f64,
        depth_m: f64,
    ) -> Option<f64> {
        let (sx, sy) = self.scale(camera)?;
        let x0 = ((u_px - radius_px) * sx).floor().max(0.0);
        let x1 = ((u_px + radius_px) * sx)
            .floor()
            .min(f64::from(self.width_px) - 1.0);
        let y0 = ((v_px - radius_px) * sy).floor().max(0.0);
        let y1 = ((v_px + radius_px) * sy)
            .floor()
            .min(f64::from(self.height_px) - 1.0);
        if x0 > x1 || y0 > y1 {
            return None;
        }
        let (mut total, mut clear) = (0usize, 0usize);
        for y in y0 as usize..=y1 as usize {
            for x in x0 as usize..=x1 as usize {
                if let Some(d) = self.at(x, y) {
                    total += 1;
                    if d >= depth_m {
                        clear += 1;
                    }
                }
            }
        }
        (total > 0).then(|| clear as f64 / total as f64)
    }
}

/// Largest coordinate magnitude the memory accepts, m (the k-d trees store `f32`).
pub const MAX_COORDINATE_M: f64 = 1.0e6;

/// Whether every component of an isometry is finite (translation within
/// [`MAX_COORDINATE_M`]) and its rotation a valid unit quaternion.
pub fn isometry_is_finite(iso: &Isometry3<f64>) -> bool {
    let q = iso.rotation.quaternion();
    iso.translation
        .vector
        .iter()
        .all(|c| c.is_finite() && c.abs() <= MAX_COORDINATE_M)
        && q.coords.iter().all(|c| c.is_finite())
        && (q.norm() - 1.0).abs() < 1e-3
}

/// Whether every coordinate of a point is finite and within [`MAX_COORDINATE_M`].
pub fn point_is_finite(p: &Point3<f64>) -> bool {
    p.coords
        .iter()
        .all(|c| c.is_finite() && c.abs() <= MAX_COORDINATE_M)
}

/// Whether every component of a vector is finite.
pub fn vector_is_finite(v: &Vector3<f64>) -> bool {
    v.iter().all(|c| c.is_finite())
}

/// Converts a point to the `f32` array the k-d trees store.
pub fn to_f32(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}

/// Yaw (rotation about +z) of an isometry, radians in (-pi, pi].
pub fn yaw_rad(iso: &Isometry3<f64>) -> f64 {
    let (_, _, yaw) = iso.rotation.euler_angles();
    yaw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_back_project_round_trip() {
        let cam = PinholeCamera::vga_default();
        let p = Point3::new(0.4, -0.2, 2.5);
        let (u, v) = cam.project(&p).unwrap();
        let q = cam.back_project(u, v, p.z);
        assert!((p - q).norm() < 1e-9);
    }

    #[test]
    fn frustum_respects_depth_range_and_borders() {
        let cam = PinholeCamera::vga_default();
        assert!(cam.sees(&Point3::new(0.0, 0.0, 1.0), 0.0));
        assert!(!cam.sees(&Point3::new(0.0, 0.0, 0.1), 0.0));
        assert!(!cam.sees(&Point3::new(0.0, 0.0, 6.0), 0.0));
        assert!(!cam.sees(&Point3::new(0.0, 0.0, -1.0), 0.0));
        // 1 m to the right at 1 m depth projects at u = 844 > 639.
        assert!(!cam.sees(&Point3::new(1.0, 0.0, 1.0), 0.0));
    }

    #[test]
    fn the_frustum_ball_holds_every_visible_point_and_is_smaller_than_the_depth_range() {
        let mut wide = PinholeCamera::vga_default();
        wide.fx_px = 150.0;
        wide.fy_px = 150.0;
        let mut off_centre = PinholeCamera::vga_default();
        off_centre.cx_px = 100.0;
        off_centre.cy_px = 400.0;
        for cam in [PinholeCamera::vga_default(), wide, off_centre] {
            let (t, r) = cam.frustum_ball();
            let centre = Point3::new(0.0, 0.0, t);
            let mut farthest: f64 = 0.0;
            for iu in 0..=32 {
                for iv in 0..=24 {
                    for iz in 0..=20 {
                        // Pixel centres from the first to the last (a hair inside the border).
                        let (u, v) = (
                            1e-6 + f64::from(iu) / 32.0 * (f64::from(cam.width_px) - 1.0 - 2e-6),
                            1e-6 + f64::from(iv) / 24.0 * (f64::from(cam.height_px) - 1.0 - 2e-6),
                        );
                        let z = cam.min_depth_m
                            + f64::from(iz) / 20.0 * (cam.max_depth_m - cam.min_depth_m);
                        let p = cam.back_project(u, v, z);
                        assert!(cam.sees(&p, 0.0));
                        farthest = farthest.max((p - centre).norm());
                    }
                }
            }
            assert!(farthest <= r + 1e-9, "{farthest} > {r}");
            // Tight: a far corner lies on the sphere (within the sampling).
            assert!(farthest >= r - 0.05, "{farthest} << {r}");
        }
        // A usual camera: clearly smaller than a ball of the depth range around the camera, and
        // that ball would miss the far corners (a corner at 5 m depth is 6.3 m away).
        let cam = PinholeCamera::vga_default();
        let (_, r) = cam.frustum_ball();
        assert!(r < 0.85 * cam.max_depth_m, "{r}");
        let corner = cam.back_project(0.0, 0.0, cam.max_depth_m);
        assert!(corner.coords.norm() > 1.2 * cam.max_depth_m);
    }

    #[test]
    fn invalid_cameras_are_rejected() {
        let mut cam = PinholeCamera::vga_default();
        cam.fx_px = f64::NAN;
        assert!(cam.validate().is_err());
        let mut cam = PinholeCamera::vga_default();
        cam.max_depth_m = 0.1;
        assert!(cam.validate().is_err());
        assert!(PinholeCamera::vga_default().validate().is_ok());
    }

    #[test]
    fn downsampled_depth_lookup_scales_pixels() {
        let cam = PinholeCamera::vga_default();
        let img = DepthImage {
            width_px: 2,
            height_px: 1,
            depth_m: vec![1.0, 0.0],
        };
        assert_eq!(img.depth_at(&cam, 10.0, 10.0), Some(1.0));
        assert_eq!(img.depth_at(&cam, 600.0, 10.0), None); // no return
        assert_eq!(img.depth_at(&cam, -1.0, 10.0), None);
        let img = DepthImage {
            width_px: 4,
            height_px: 1,
            depth_m: vec![3.0, 2.0, 0.5, 0.0],
        };
        // Pixel 1 (u in 160..320) sees 2 m: clear at 1.5 m. Within 170 px pixels 0..=2 have
        // returns (3, 2, 0.5 m): two of three are behind 1.5 m. The no-return pixel is ignored.
        assert_eq!(
            img.unoccluded_fraction(&cam, 200.0, 10.0, 0.0, 1.5),
            Some(1.0)
        );
        let f = img
            .unoccluded_fraction(&cam, 200.0, 10.0, 170.0, 1.5)
            .unwrap();
        assert!((f - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(img.unoccluded_fraction(&cam, 600.0, 10.0, 0.0, 1.5), None);
        let short = DepthImage {
            width_px: 4,
            height_px: 4,
            depth_m: vec![],
        };
        assert_eq!(short.depth_at(&cam, 10.0, 10.0), None);
    }
}
