//! The rpm header format (rpm's `lib/header.c`, "Package header structure"), as the rpmdb
//! stores one per installed package: a big-endian index count `il` and data length `dl`,
//! then `il` 16-byte index entries (tag, type, offset, count), then `dl` bytes of data.
//!
//! Only the tags an inventory needs are read, by looking them up in the index; nothing is
//! allocated from a count in the blob, and every loop is bounded by the blob's own length.

use std::ops::Range;

/// `RPMTAG_NAME` and friends (rpm's `rpmtag.h`).
pub(crate) mod tag {
    pub(crate) const NAME: u32 = 1000;
    pub(crate) const VERSION: u32 = 1001;
    pub(crate) const RELEASE: u32 = 1002;
    pub(crate) const EPOCH: u32 = 1003;
    pub(crate) const LICENSE: u32 = 1014;
    pub(crate) const ARCH: u32 = 1022;
    pub(crate) const SOURCERPM: u32 = 1044;
}

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;
const ENTRY_LEN: usize = 16;
/// rpm refuses headers with this many tags or more (`hdrchkTags`).
const MAX_TAGS: usize = 0x1_0000;
/// rpm refuses headers with this much data or more (`hdrchkData`).
const MAX_DATA: usize = 0x100_0000;

/// A header blob whose index has been checked against its length.
///
/// Invariant: `blob.len() == 8 + il * 16 + dl`, `il < MAX_TAGS`, `dl < MAX_DATA`; so every
/// index entry lies inside `blob`, and `data` is the range of the data store.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    blob: &'a [u8],
    il: usize,
    data: Range<usize>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

impl<'a> Header<'a> {
    /// Checks the blob's shape; an error says what is wrong.
    pub(crate) fn parse(blob: &'a [u8]) -> Result<Self, String> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!("{} bytes, shorter than a header's 8-byte preamble", blob.len()));
        };
        let (il, dl) = (il as usize, dl as usize);
        if il == 0 || il >= MAX_TAGS {
            return Err(format!("{il} index entries (rpm allows 1 to {})", MAX_TAGS - 1));
        }
        if dl >= MAX_DATA {
            return Err(format!("{dl} bytes of data (rpm allows less than {MAX_DATA})"));
        }
        // Cannot overflow: il < 2^16 and dl < 2^24.
        let data_start = 8 + il * ENTRY_LEN;
        let expected = data_start + dl;
        if blob.len() != expected {
            return Err(format!("{} bytes where its index says {expected}", blob.len()));
        }
        Ok(Self { blob, il, data: data_start..expected })
    }

    /// The index entry for `tag`: (type, offset into the data store, count).
    fn entry(&self, tag: u32) -> Option<(u32, usize, usize)> {
        (0..self.il).find_map(|i| {
            let at = 8 + i * ENTRY_LEN;
            (be32(self.blob, at)? == tag).then_some(())?;
            Some((be32(self.blob, at + 4)?, be32(self.blob, at + 8)? as usize, be32(self.blob, at + 12)? as usize))
        })
    }

    /// A `STRING` (or the first string of an `I18NSTRING`) tag; `None` when absent, of
    /// another type, outside the data store or without its NUL terminator.
    pub(crate) fn string(&self, tag: u32) -> Option<String> {
        let (kind, offset, count) = self.entry(tag)?;
        if !(kind == TYPE_STRING || kind == TYPE_I18NSTRING) || count == 0 {
            return None;
        }
        let store = self.blob.get(self.data.clone())?;
        let tail = store.get(offset..)?;
        let end = tail.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(tail.get(..end)?).into_owned())
    }

    /// The first value of an `INT32` tag (aligned on 4 bytes, as rpm writes it).
    pub(crate) fn int32(&self, tag: u32) -> Option<u32> {
        let (kind, offset, count) = self.entry(tag)?;
        if kind != TYPE_INT32 || count == 0 || offset % 4 != 0 {
            return None;
        }
        be32(self.blob.get(self.data.clone())?, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given (tag, type, data) entries, in the layout rpm writes.
    fn header(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (tag, kind, bytes) in entries {
            while *kind == TYPE_INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            for v in [*tag, *kind, data.len() as u32, 1] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    #[test]
    fn reads_strings_and_epoch() {
        let blob = header(&[
            (tag::NAME, TYPE_STRING, s("bash")),
            (tag::EPOCH, TYPE_INT32, 2u32.to_be_bytes().to_vec()),
            (tag::LICENSE, TYPE_STRING, s("GPL-3.0-or-later")),
        ]);
        let h = Header::parse(&blob).unwrap();
        assert_eq!(h.string(tag::NAME).as_deref(), Some("bash"));
        assert_eq!(h.int32(tag::EPOCH), Some(2));
        assert_eq!(h.string(tag::LICENSE).as_deref(), Some("GPL-3.0-or-later"));
        assert_eq!(h.string(tag::VERSION), None);
        assert_eq!(h.string(tag::EPOCH), None, "an INT32 is not read as a string");
    }

    #[test]
    fn hostile_headers_are_refused_or_read_within_bounds() {
        let good = header(&[(tag::NAME, TYPE_STRING, s("x"))]);
        // Truncated anywhere: refused, never read past the end.
        for n in 0..good.len() {
            assert!(Header::parse(&good[..n]).is_err(), "{n} bytes");
        }
        // Counts that would make a reader allocate or loop for long: refused up front.
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Header::parse(&huge).unwrap_err().contains("index entries"));
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Header::parse(&huge).unwrap_err().contains("bytes of data"));
        // An offset past the data store, a count of zero, a string without its NUL.
        let mut far = good.clone();
        far[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Header::parse(&far).unwrap().string(tag::NAME), None);
        let mut none = good.clone();
        none[20..24].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(Header::parse(&none).unwrap().string(tag::NAME), None);
        let unterminated = header(&[(tag::NAME, TYPE_STRING, b"abc".to_vec())]);
        assert_eq!(Header::parse(&unterminated).unwrap().string(tag::NAME), None);
        // A misaligned or out-of-range INT32.
        let mut odd = header(&[(tag::EPOCH, TYPE_INT32, 1u32.to_be_bytes().to_vec())]);
        odd[16..20].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(Header::parse(&odd).unwrap().int32(tag::EPOCH), None);
    }
}
