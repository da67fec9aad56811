//! Appearance from the colour image: a colour descriptor of each detection's image region, so
//! that two instances of one class (a red and a white mug) are told apart by association and
//! re-identification, as the core does with any detection's `embedding`.
//!
//! Owns: the descriptor (a hue x saturation histogram of the chromatic pixels plus a brightness
//! histogram of the grey ones, weighted towards the region's centre, square-rooted so that the
//! cosine of two descriptors is their Bhattacharyya coefficient, a number in 0..=1), the image
//! region of a detection (the projection of its 3D box through the keyframe's camera, scaled to
//! the image's resolution), and attaching descriptors to a keyframe's detections. No model:
//! pure arithmetic on the pixels, cheap enough for every keyframe (at most
//! [`MAX_SAMPLES`] pixels per region).
//!
//! What it cannot do: tell identical twins apart (nothing can from one image), or survive a
//! strong change of lighting between two sightings (the histograms shift; the core's
//! `min_appearance_cosine` then keeps two sightings of one object apart). Measured on real
//! images in `tests/integration/realimage.rs` (Middlebury pair, corresponding regions through
//! the ground-truth disparity).

use nalgebra::{Isometry3, Point3, Vector3};

use crate::core::{Detection, DetectionFrame, PinholeCamera};
use crate::ros::pipeline::ColorImage;

/// Hue bins of chromatic pixels.
pub const HUE_BINS: usize = 12;
/// Saturation bins of chromatic pixels.
pub const SATURATION_BINS: usize = 3;
/// Brightness bins of grey (unsaturated or dark) pixels.
pub const GREY_BINS: usize = 4;
/// Length of a descriptor.
pub const APPEARANCE_DIM: usize = HUE_BINS * SATURATION_BINS + GREY_BINS;
/// At most this many pixels are sampled per region (evenly strided).
pub const MAX_SAMPLES: usize = 4096;
/// A pixel below this saturation counts as grey.
const MIN_SATURATION: f32 = 0.2;
/// A pixel below this brightness counts as grey (its hue is noise).
const MIN_VALUE: f32 = 0.15;
/// Smallest region described, pixels per side.
const MIN_SIDE_PX: u32 = 4;

/// A rectangle of image pixels, `x0..x1` by `y0..y1` (half-open), inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

/// The histogram bin of one RGB pixel.
fn bin(r: u8, g: u8, b: u8) -> usize {
    let (r, g, b) = (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    let saturation = if max > 0.0 { chroma / max } else { 0.0 };
    if saturation < MIN_SATURATION || max < MIN_VALUE || chroma <= 0.0 {
        let g = ((max * GREY_BINS as f32) as usize).min(GREY_BINS - 1);
        return HUE_BINS * SATURATION_BINS + g;
    }
    // Hue in sixths of the circle, 0..6.
    let sixths = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    let h = ((sixths / 6.0 * HUE_BINS as f32) as usize).min(HUE_BINS - 1);
    let s = (((saturation - MIN_SATURATION) / (1.0 - MIN_SATURATION) * SATURATION_BINS as f32)
        as usize)
        .min(SATURATION_BINS - 1);
    h * SATURATION_BINS + s
}

/// The descriptor of `rect` in an RGB8 image (`rgb`: row-major, `3 * width * height` bytes):
/// [`APPEARANCE_DIM`] non-negative numbers of unit length. `None` when the buffer does not
/// match the size or the region is outside the image or smaller than 4 pixels a side.
pub fn describe(rgb: &[u8], width_px: u32, height_px: u32, rect: PixelRect) -> Option<Vec<f32>> {
    if rgb.len() != 3 * width_px as usize * height_px as usize
        || rect.x1 > width_px
        || rect.y1 > height_px
        || rect.x1 < rect.x0 + MIN_SIDE_PX
        || rect.y1 < rect.y0 + MIN_SIDE_PX
    {
        return None;
    }
    let (w, h) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
    let area = w as usize * h as usize;
    let step = ((area as f64 / MAX_SAMPLES as f64).sqrt().ceil() as u32).max(1);
    let (cx, cy) = (
        f64::from(rect.x0) + f64::from(w) / 2.0,
        f64::from(rect.y0) + f64::from(h) / 2.0,
    );
    let (hx, hy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let mut hist = [0f64; APPEARANCE_DIM];
    let mut y = rect.y0;
    while y < rect.y1 {
        let dy = (f64::from(y) + 0.5 - cy) / hy;
        let row = y as usize * width_px as usize;
        let mut x = rect.x0;
        while x < rect.x1 {
            let dx = (f64::from(x) + 0.5 - cx) / hx;
            // Centre-weighted: the corners of a box are mostly background.
            let weight = (-(dx * dx + dy * dy)).exp();
            let i = 3 * (row + x as usize);
            hist[bin(rgb[i], rgb[i + 1], rgb[i + 2])] += weight;
            x += step;
        }
        y += step;
    }
    let total: f64 = hist.iter().sum();
    if total <= 0.0 {
        return None;
    }
    // sqrt of a distribution has unit length; the cosine of two is their Bhattacharyya
    // coefficient.
    Some(hist.iter().map(|v| (v / total).sqrt() as f32).collect())
}

/// The image region of a detection: its 3D box (position and extent, in the detection's
/// frame) projected through the keyframe's camera, scaled from the camera model's size to
/// the image's and clipped to the image. `None` when part of the box lies behind the camera
/// or what is left inside the image is under 4 pixels a side.
pub fn detection_rect(
    detection: &Detection,
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    image_width_px: u32,
    image_height_px: u32,
) -> Option<PixelRect> {
    if camera.width_px == 0 || camera.height_px == 0 {
        return None;
    }
    let sx = f64::from(image_width_px) / f64::from(camera.width_px);
    let sy = f64::from(image_height_px) / f64::from(camera.height_px);
    let half: Vector3<f64> = detection.extent_m / 2.0;
    let camera_from_world = world_from_camera.inverse();
    let (mut u0, mut v0, mut u1, mut v1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for corner in 0..8u8 {
        let offset = Vector3::new(
            if corner & 1 == 0 { -half.x } else { half.x },
            if corner & 2 == 0 { -half.y } else { half.y },
            if corner & 4 == 0 { -half.z } else { half.z },
        );
        let p: Point3<f64> = detection.position_m + offset;
        let p_camera = match detection.frame {
            DetectionFrame::Camera => p,
            DetectionFrame::World => camera_from_world * p,
        };
        if p_camera.z < camera.min_depth_m.max(1e-3) {
            return None;
        }
        let (u, v) = camera.project(&p_camera)?;
        u0 = u0.min(u * sx);
        v0 = v0.min(v * sy);
        u1 = u1.max(u * sx);
        v1 = v1.max(v * sy);
    }
    if ![u0, v0, u1, v1].iter().all(|x| x.is_finite()) {
        return None;
    }
    let clip = |x: f64, max: u32| x.round().clamp(0.0, f64::from(max)) as u32;
    let rect = PixelRect {
        x0: clip(u0, image_width_px),
        y0: clip(v0, image_height_px),
        x1: clip(u1, image_width_px),
        y1: clip(v1, image_height_px),
    };
    (rect.x1 >= rect.x0 + MIN_SIDE_PX && rect.y1 >= rect.y0 + MIN_SIDE_PX).then_some(rect)
}

/// Gives each detection without an embedding the descriptor of its image region; returns how
/// many got one. Detections whose region is not in the image keep none (association then
/// ignores appearance for them).
pub fn attach(
    detections: &mut [Detection],
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    image: &ColorImage,
) -> usize {
    if image.check_rgb8().is_err() {
        return 0;
    }
    let mut attached = 0;
    for d in detections.iter_mut().filter(|d| d.embedding.is_none()) {
        let described = detection_rect(
            d,
            camera,
            world_from_camera,
            image.width_px,
            image.height_px,
        )
        .and_then(|rect| describe(&image.rgb, image.width_px, image.height_px, rect));
        if let Some(e) = described {
            d.embedding = Some(e);
            attached += 1;
        }
    }
    attached
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::embed::cosine;

    /// An image of `w` x `h` filled by `f(x, y) -> rgb`.
    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 * (w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                out.extend_from_slice(&f(x, y));
            }
        }
        out
    }

    fn rect(x0: u32, y0: u32, x1: u32, y1: u32) -> PixelRect {
        PixelRect { x0, y0, x1, y1 }
    }

    #[test]
    fn descriptors_have_unit_length_and_tell_colours_apart() {
        // Left half red, right half blue, a white stripe at the bottom.
        let img = image(100, 60, |x, y| {
            if y >= 50 {
                [250, 250, 250]
            } else if x < 50 {
                [200, 30, 30]
            } else {
                [30, 30, 200]
            }
        });
        let red = describe(&img, 100, 60, rect(5, 5, 45, 45)).unwrap();
        let red_shifted = describe(&img, 100, 60, rect(2, 8, 40, 48)).unwrap();
        let blue = describe(&img, 100, 60, rect(55, 5, 95, 45)).unwrap();
        let white = describe(&img, 100, 60, rect(10, 51, 90, 60)).unwrap();
        for d in [&red, &blue, &white] {
            assert_eq!(d.len(), APPEARANCE_DIM);
            let norm: f32 = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{norm}");
            assert!(d.iter().all(|v| *v >= 0.0));
        }
        assert!(cosine(&red, &red_shifted) > 0.999);
        assert!(cosine(&red, &blue) < 0.01);
        assert!(cosine(&red, &white) < 0.01);
        // White goes to the brightest grey bin.
        assert!(white[APPEARANCE_DIM - 1] > 0.99);
    }

    #[test]
    fn a_mixed_region_is_near_both_of_its_colours_and_far_from_a_third() {
        // Red with a green centre: centre weighting makes green count more than its area.
        let img = image(60, 60, |x, y| {
            if (20..40).contains(&x) && (20..40).contains(&y) {
                [30, 200, 30]
            } else {
                [200, 30, 30]
            }
        });
        let mixed = describe(&img, 60, 60, rect(0, 0, 60, 60)).unwrap();
        let green = describe(&img, 60, 60, rect(22, 22, 38, 38)).unwrap();
        let red = describe(&img, 60, 60, rect(0, 0, 15, 60)).unwrap();
        // The cosine with a pure colour is the square root of that colour's share of the
        // weight: the shares add up to one, and green's exceeds its share of the area (1/9).
        let (g, r) = (cosine(&mixed, &green), cosine(&mixed, &red));
        assert!((g * g + r * r - 1.0).abs() < 1e-4, "{g} {r}");
        assert!(g * g > 1.5 / 9.0, "{g}");
        let blue_img = image(60, 60, |_, _| [30, 30, 200]);
        let blue = describe(&blue_img, 60, 60, rect(0, 0, 60, 60)).unwrap();
        assert!(cosine(&mixed, &blue) < 0.01);
    }

    #[test]
    fn bad_regions_and_buffers_give_none() {
        let img = image(20, 20, |_, _| [100, 100, 100]);
        assert!(describe(&img, 20, 20, rect(0, 0, 3, 20)).is_none());
        assert!(describe(&img, 20, 20, rect(0, 0, 21, 20)).is_none());
        assert!(describe(&img, 20, 20, rect(10, 10, 5, 15)).is_none());
        assert!(describe(&img[..30], 20, 20, rect(0, 0, 10, 10)).is_none());
        assert!(describe(&img, 20, 20, rect(0, 0, 10, 10)).is_some());
    }

    #[test]
    fn large_regions_are_sampled_not_read_whole() {
        // A 1000 x 1000 region is strided to at most MAX_SAMPLES pixels; its descriptor still
        // matches the whole region's colours.
        let img = image(1000, 1000, |x, _| {
            if x < 500 {
                [200, 30, 30]
            } else {
                [30, 30, 200]
            }
        });
        let d = describe(&img, 1000, 1000, rect(0, 0, 1000, 1000)).unwrap();
        let red = bin(200, 30, 30);
        let blue = bin(30, 30, 200);
        assert!((d[red] - d[blue]).abs() < 0.05, "{} vs {}", d[red], d[blue]);
        assert!((d[red] * d[red] + d[blue] * d[blue] - 1.0).abs() < 1e-5);
    }

    fn camera() -> PinholeCamera {
        PinholeCamera {
            width_px: 640,
            height_px: 480,
            fx_px: 500.0,
            fy_px: 500.0,
            cx_px: 320.0,
            cy_px: 240.0,
            min_depth_m: 0.3,
            max_depth_m: 5.0,
        }
    }

    fn detection(position_m: Point3<f64>, frame: DetectionFrame) -> Detection {
        Detection {
            label: "mug".into(),
            score: 0.9,
            position_m,
            frame,
            extent_m: Vector3::new(0.2, 0.2, 0.2),
            text: None,
            embedding: None,
        }
    }

    #[test]
    fn a_box_projects_to_its_pixels_in_either_frame_and_at_any_image_scale() {
        let cam = camera();
        // On the optical axis at 2 m (near face at 1.9 m): 0.1 m half width -> 500 * 0.1 / 1.9
        // = 26.3 px either side of the centre.
        let d = detection(Point3::new(0.0, 0.0, 2.0), DetectionFrame::Camera);
        let r = detection_rect(&d, &cam, &Isometry3::identity(), 640, 480).unwrap();
        assert_eq!(r, rect(294, 214, 346, 266));
        // The same box given in the world frame of a camera 1 m along world x.
        let world_from_camera = Isometry3::translation(1.0, 0.0, 0.0);
        let w = detection(Point3::new(1.0, 0.0, 2.0), DetectionFrame::World);
        assert_eq!(
            detection_rect(&w, &cam, &world_from_camera, 640, 480),
            Some(r)
        );
        // A half-resolution image.
        let half = detection_rect(&d, &cam, &Isometry3::identity(), 320, 240).unwrap();
        assert_eq!(half, rect(147, 107, 173, 133));
        // Behind the camera, or off the image.
        let behind = detection(Point3::new(0.0, 0.0, -2.0), DetectionFrame::Camera);
        assert!(detection_rect(&behind, &cam, &Isometry3::identity(), 640, 480).is_none());
        let off = detection(Point3::new(10.0, 0.0, 2.0), DetectionFrame::Camera);
        assert!(detection_rect(&off, &cam, &Isometry3::identity(), 640, 480).is_none());
    }

    #[test]
    fn attach_describes_what_is_in_the_image_and_keeps_given_embeddings() {
        let cam = camera();
        // Left half of the image red, right half blue.
        let img = ColorImage {
            stamp_ns: 0,
            width_px: 640,
            height_px: 480,
            rgb: image(640, 480, |x, _| {
                if x < 320 {
                    [200, 30, 30]
                } else {
                    [30, 30, 200]
                }
            }),
        };
        let mut dets = vec![
            detection(Point3::new(-0.8, 0.0, 2.0), DetectionFrame::Camera),
            detection(Point3::new(0.8, 0.0, 2.0), DetectionFrame::Camera),
            detection(Point3::new(0.0, 0.0, -2.0), DetectionFrame::Camera),
            Detection {
                embedding: Some(vec![1.0, 0.0]),
                ..detection(Point3::new(0.8, 0.0, 2.0), DetectionFrame::Camera)
            },
        ];
        assert_eq!(attach(&mut dets, &cam, &Isometry3::identity(), &img), 2);
        let left = dets[0].embedding.clone().unwrap();
        let right = dets[1].embedding.clone().unwrap();
        assert!(left[bin(200, 30, 30)] > 0.99);
        assert!(right[bin(30, 30, 200)] > 0.99);
        assert!(dets[2].embedding.is_none());
        assert_eq!(dets[3].embedding, Some(vec![1.0, 0.0]));
        // A buffer that does not match its size attaches nothing.
        let broken = ColorImage {
            rgb: vec![0; 10],
            ..img
        };
        let mut again = vec![detection(
            Point3::new(-0.8, 0.0, 2.0),
            DetectionFrame::Camera,
        )];
        assert_eq!(attach(&mut again, &cam, &Isometry3::identity(), &broken), 0);
    }
}
