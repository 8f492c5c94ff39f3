//! Saving a frame as PNG or binary PPM (P6), chosen by the file's extension.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `rgb` (`width * height * 3` bytes, rows top first) to `path`: PNG for `.png`, PPM for
/// anything else.
pub fn save(path: &Path, width: u32, height: u32, rgb: &[u8]) -> std::io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let mut enc = png::Encoder::new(file, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        w.write_image_data(rgb).map_err(std::io::Error::other)?;
        w.finish().map_err(std::io::Error::other)?;
        Ok(())
    } else {
        let mut file = file;
        write!(file, "P6\n{width} {height}\n255\n")?;
        file.write_all(rgb)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_and_png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rgb: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8).collect();
        let ppm = dir.path().join("a.ppm");
        save(&ppm, 3, 2, &rgb).unwrap();
        let bytes = std::fs::read(&ppm).unwrap();
        assert!(bytes.starts_with(b"P6\n3 2\n255\n"));
        assert!(bytes.ends_with(&rgb));
        let pngp = dir.path().join("a.png");
        save(&pngp, 3, 2, &rgb).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(File::open(&pngp).unwrap()));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&buf[..rgb.len()], &rgb[..]);
    }
}
