//! A survey's brand colour: parsed as `#rrggbb`, and whether white text reads on it (so whether
//! it reads as text on white).

use crate::error::{Error, Result};

/// A colour as `#rrggbb` (lower case); anything else is refused, naming `brand_color`.
pub fn brand_color(text: &str) -> Result<String> {
    let t = text.trim().to_ascii_lowercase();
    let ok = t.len() == 7 && t.starts_with('#') && t[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(Error::invalid("brand_color", "must be a colour as #rrggbb"));
    }
    Ok(t)
}

/// True when white text reads on `hex` (#rrggbb) with at least 4.5:1 contrast (and so `hex` text
/// on white).
pub fn white_reads_on(hex: &str) -> bool {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0)) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    1.05 / (luminance + 0.05) >= 4.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_colours_that_read_on_white() {
        assert!(white_reads_on("#1d4ed8"), "the default blue");
        assert!(white_reads_on("#000000"));
        assert!(!white_reads_on("#FFD700"), "gold: near-black text instead");
        assert!(!white_reads_on("#8c959f"), "2.9:1 is not enough");
    }
}
