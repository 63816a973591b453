//! Demultiplexing container output streams onto this process's stdout and stderr.

use std::io::Write as _;

use palisade_engine_api::containers::types::unframe;

/// Writes the complete frames in `buffer` to stdout (stream 1) or stderr (others).
pub(crate) fn write_frames(buffer: &mut Vec<u8>, chunk: &[u8]) {
    buffer.extend_from_slice(chunk);
    for (stream, data) in unframe(buffer) {
        let _ = if stream == 1 {
            let mut out = std::io::stdout().lock();
            out.write_all(&data).and_then(|()| out.flush())
        } else {
            std::io::stderr().write_all(&data)
        };
    }
}
