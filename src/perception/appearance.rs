//! Appearance from the colour image: a colour descriptor of each detection's image region, so
//! that two instances of one class (a red and a white mug) are told apart by association and
//! re-identification, as the core does with any detection's `embedding`.
//!
//! Owns: the descriptor (a hue x saturation histogram of the chromatic pixels plus a brightness
//! histogram of the grey ones, each pixel split between its two nearest bins along each axis,
//! weighted towards the region's centre, square-rooted so that the cosine of two descriptors is
//! their Bhattacharyya coefficient, a number in 0..=1), the image region of a detection (the
//! projection of its 3D box through the keyframe's camera, scaled to the image's resolution),
//! the check that nothing nearer covers that region (by the aligned depth image), and
//! attaching descriptors to a keyframe's detections. No model: pure arithmetic on the pixels,
//! cheap enough for every keyframe (at most [`MAX_SAMPLES`] pixels per region).
//!
//! What it cannot do: tell identical twins apart (nothing can from one image), or survive a
//! strong change of lighting between two sightings (the histograms shift). One sighting's
//! descriptor is less steady than a learned embedding, so the memory matches sightings to
//! tracks at the looser [`ASSOCIATION_MIN_COSINE`] and keeps its own bounds for
//! re-identification. Measured on real images in `tests/integration/realimage.rs`
//! (Middlebury pair, corresponding regions through the ground-truth disparity) and end to end
//! on replayed bags with painted objects (`examples/appearance_e2e.rs`).

use nalgebra::{Isometry3, Point3, Vector3};

use crate::core::{DepthImage, Detection, DetectionFrame, PinholeCamera};
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

/// A pixel as the histogram sees it: grey, with its brightness in 0..=1, or chromatic, with its
/// hue in sixths of the circle (0..6) and its saturation scaled to 0..=1 over the chromatic
/// range.
enum Shade {
    Grey(f32),
    Chromatic { sixths: f32, saturation: f32 },
}

fn shade(r: u8, g: u8, b: u8) -> Shade {
    let (r, g, b) = (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    let max = r.max(g).max(b);
    let chroma = max - r.min(g).min(b);
    let saturation = if max > 0.0 { chroma / max } else { 0.0 };
    if saturation < MIN_SATURATION || max < MIN_VALUE || chroma <= 0.0 {
        return Shade::Grey(max);
    }
    let sixths = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    Shade::Chromatic {
        sixths,
        saturation: (saturation - MIN_SATURATION) / (1.0 - MIN_SATURATION),
    }
}

/// Adds one RGB pixel of weight `weight` to `hist`, split linearly between the two nearest
/// bins along hue (circular), saturation and grey brightness: a shade that drifts across a bin
/// edge between two sightings (light, exposure) moves its weight gradually, not all at once.
fn add_soft(hist: &mut [f64; APPEARANCE_DIM], r: u8, g: u8, b: u8, weight: f64) {
    // Position between bin centres, clamped to the first and last centre.
    let split = |pos: f32, bins: usize| -> (usize, usize, f64) {
        let p = (pos - 0.5).clamp(0.0, (bins - 1) as f32);
        let lo = (p.floor() as usize).min(bins - 1);
        (lo, (lo + 1).min(bins - 1), f64::from(p - lo as f32))
    };
    match shade(r, g, b) {
        Shade::Grey(value) => {
            let (lo, hi, f) = split(value * GREY_BINS as f32, GREY_BINS);
            let base = HUE_BINS * SATURATION_BINS;
            hist[base + lo] += weight * (1.0 - f);
            hist[base + hi] += weight * f;
        }
        Shade::Chromatic { sixths, saturation } => {
            // Hue is circular: between the last bin's centre and the first's, it splits
            // across the wrap.
            let hp = (sixths / 6.0 * HUE_BINS as f32 - 0.5).rem_euclid(HUE_BINS as f32);
            let h_lo = (hp.floor() as usize) % HUE_BINS;
            let (h_hi, hf) = ((h_lo + 1) % HUE_BINS, f64::from(hp - hp.floor()));
            let (s_lo, s_hi, sf) = split(saturation * SATURATION_BINS as f32, SATURATION_BINS);
            for (h, wh) in [(h_lo, 1.0 - hf), (h_hi, hf)] {
                for (s, ws) in [(s_lo, 1.0 - sf), (s_hi, sf)] {
                    hist[h * SATURATION_BINS + s] += weight * wh * ws;
                }
            }
        }
    }
}

/// The histogram bin of one RGB pixel with hard bin edges (tests use it to name a colour's
/// bin; [`add_soft`] gives a pixel's weight to this bin and its nearest neighbours).
#[cfg(test)]
fn bin(r: u8, g: u8, b: u8) -> usize {
    match shade(r, g, b) {
        Shade::Grey(value) => {
            HUE_BINS * SATURATION_BINS + ((value * GREY_BINS as f32) as usize).min(GREY_BINS - 1)
        }
        Shade::Chromatic { sixths, saturation } => {
            let h = ((sixths / 6.0 * HUE_BINS as f32) as usize).min(HUE_BINS - 1);
            let s = ((saturation * SATURATION_BINS as f32) as usize).min(SATURATION_BINS - 1);
            h * SATURATION_BINS + s
        }
    }
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
            add_soft(&mut hist, rgb[i], rgb[i + 1], rgb[i + 2], weight);
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

/// The smallest cosine at which a detection with a colour descriptor is matched to a track
/// (the core's `association_min_appearance_cosine` whenever colour descriptors are on; the
/// node's `appearance.association_min_cosine`). Far below the core's 0.85 for learned
/// embeddings: a sighting's colours shift with the light and with whatever edges into its
/// box, and a strict bound splits one object into several tracks. Replayed painted bags
/// (`examples/appearance_e2e.rs`, seeds 1-60): mean `change_f1` 0.892 at 0.5, 0.823 at the
/// core's bounds, 0.868 by position alone.
pub const ASSOCIATION_MIN_COSINE: f32 = 0.5;

/// Share of a region's depth samples nearer than the detection's front (by more than the
/// margin of [`covered_share`]) above which something stands in front of it and its colours
/// are not its own.
pub const MAX_COVERED_SHARE: f64 = 0.25;

/// Share of `rect`'s pixels (image pixels of an image `image_w` x `image_h`) whose depth return
/// lies clearly in front of the detection: nearer than its centre's depth less half its largest
/// extent, 5 cm and 2 % of the depth. `None` without depth samples there.
pub fn covered_share(
    detection: &Detection,
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    depth: &DepthImage,
    rect: PixelRect,
    image_w: u32,
    image_h: u32,
) -> Option<f64> {
    let centre = match detection.frame {
        DetectionFrame::Camera => detection.position_m,
        DetectionFrame::World => world_from_camera.inverse() * detection.position_m,
    };
    let reach = detection.extent_m.max() / 2.0 + 0.05 + 0.02 * centre.z;
    let front = centre.z - reach;
    let (sx, sy) = (
        f64::from(camera.width_px) / f64::from(image_w.max(1)),
        f64::from(camera.height_px) / f64::from(image_h.max(1)),
    );
    // At most 16 x 16 samples, at pixel centres.
    let (w, h) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
    let (nx, ny) = (w.clamp(1, 16), h.clamp(1, 16));
    let (mut covered, mut with_return) = (0usize, 0usize);
    for j in 0..ny {
        for i in 0..nx {
            let x = f64::from(rect.x0) + (f64::from(i) + 0.5) * f64::from(w) / f64::from(nx);
            let y = f64::from(rect.y0) + (f64::from(j) + 0.5) * f64::from(h) / f64::from(ny);
            if let Some(z) = depth.depth_at(camera, x * sx, y * sy) {
                with_return += 1;
                covered += usize::from(z < front);
            }
        }
    }
    (with_return > 0).then(|| covered as f64 / with_return as f64)
}

/// Gives each detection without an embedding the descriptor of its image region; returns how
/// many got one. Detections whose region is not in the image keep none (association then
/// ignores appearance for them), and so do those that something nearer covers (more than
/// [`MAX_COVERED_SHARE`] of the region, by the keyframe's aligned `depth` when there is one):
/// such a region's colours are mostly the cover's.
pub fn attach(
    detections: &mut [Detection],
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    image: &ColorImage,
    depth: Option<&DepthImage>,
) -> usize {
    if image.check_rgb8().is_err() {
        return 0;
    }
    let mut attached = 0;
    for d in detections.iter_mut().filter(|d| d.embedding.is_none()) {
        let Some(rect) = detection_rect(
            d,
            camera,
            world_from_camera,
            image.width_px,
            image.height_px,
        ) else {
            continue;
        };
        let covered = depth.and_then(|depth| {
            covered_share(
                d,
                camera,
                world_from_camera,
                depth,
                rect,
                image.width_px,
                image.height_px,
            )
        });
        if covered.is_some_and(|c| c > MAX_COVERED_SHARE) {
            continue;
        }
        if let Some(e) = describe(&image.rgb, image.width_px, image.height_px, rect) {
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
        let small = image(
            10,
            10,
            |x, _| {
                if x < 5 {
                    [200, 30, 30]
                } else {
                    [30, 30, 200]
                }
            },
        );
        let whole = describe(&small, 10, 10, rect(0, 0, 10, 10)).unwrap();
        assert!(cosine(&d, &whole) > 0.999, "{d:?} vs {whole:?}");
        let red = bin(200, 30, 30);
        let blue = bin(30, 30, 200);
        assert!((d[red] - d[blue]).abs() < 0.05, "{} vs {}", d[red], d[blue]);
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
        assert_eq!(
            attach(&mut dets, &cam, &Isometry3::identity(), &img, None),
            2
        );
        let left = dets[0].embedding.clone().unwrap();
        let right = dets[1].embedding.clone().unwrap();
        let flat = |c: [u8; 3]| describe(&image(8, 8, |_, _| c), 8, 8, rect(0, 0, 8, 8)).unwrap();
        assert!(cosine(&left, &flat([200, 30, 30])) > 0.99, "{left:?}");
        assert!(cosine(&right, &flat([30, 30, 200])) > 0.99, "{right:?}");
        assert!(cosine(&left, &right) < 0.01);
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
        assert_eq!(
            attach(&mut again, &cam, &Isometry3::identity(), &broken, None),
            0
        );
    }

    #[test]
    fn a_detection_covered_by_something_nearer_gets_no_colours() {
        // A mug 2 m away on the left; the aligned depth image (a quarter of the camera's
        // resolution) sees a surface 1.2 m away over the left half of its box, or only the
        // mug itself (2 m) and the wall behind it (3 m).
        let cam = camera();
        let img = ColorImage {
            stamp_ns: 0,
            width_px: 640,
            height_px: 480,
            rgb: image(640, 480, |_, _| [200, 30, 30]),
        };
        let mug = detection(Point3::new(-0.8, 0.0, 2.0), DetectionFrame::Camera);
        let rect = detection_rect(&mug, &cam, &Isometry3::identity(), 640, 480).unwrap();
        let depth_with = |cover: bool| {
            let (w, h) = (160u32, 120u32);
            let mut depth_m = vec![3.0f32; (w * h) as usize];
            for y in rect.y0 / 4..rect.y1 / 4 {
                for x in rect.x0 / 4..rect.x1 / 4 {
                    let covered = cover && x < (rect.x0 + rect.x1) / 8;
                    depth_m[(y * w + x) as usize] = if covered { 1.2 } else { 2.0 };
                }
            }
            DepthImage {
                width_px: w,
                height_px: h,
                depth_m,
            }
        };
        let share = |cover| {
            covered_share(
                &mug,
                &cam,
                &Isometry3::identity(),
                &depth_with(cover),
                rect,
                640,
                480,
            )
            .unwrap()
        };
        assert!((share(true) - 0.5).abs() < 0.1, "{}", share(true));
        assert_eq!(share(false), 0.0);
        for cover in [true, false] {
            let mut dets = vec![mug.clone()];
            let depth = depth_with(cover);
            let n = attach(&mut dets, &cam, &Isometry3::identity(), &img, Some(&depth));
            assert_eq!(
                (n, dets[0].embedding.is_some()),
                (usize::from(!cover), !cover)
            );
        }
    }

    #[test]
    fn a_shade_drifting_across_a_bin_edge_keeps_its_descriptor_close() {
        // Grey at brightness 0.49 and 0.51 (a grey-bin edge at 0.5 with hard bins), and an
        // orange whose hue drifts by 4 degrees across a hue-bin edge.
        let flat = |c: [u8; 3]| describe(&image(8, 8, |_, _| c), 8, 8, rect(0, 0, 8, 8)).unwrap();
        assert!(cosine(&flat([125, 125, 125]), &flat([130, 130, 130])) > 0.95);
        assert!(cosine(&flat([200, 98, 30]), &flat([200, 110, 30])) > 0.9);
        // Far apart shades still differ.
        assert!(cosine(&flat([200, 30, 30]), &flat([30, 200, 30])) < 0.01);
    }
}
