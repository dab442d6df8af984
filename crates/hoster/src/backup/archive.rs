//! The backup archive: named files and a manifest, compressed (zstd) and sealed
//! (XChaCha20-Poly1305 in the STREAM construction) as one stream, so nothing is ever whole in
//! memory and an archive copied anywhere opens with the key alone.
//!
//! Sealed layer: `HOSTERBK`, a format byte, a 19-byte nonce prefix, then frames of a 4-byte
//! big-endian length and up to 64 KiB of sealed data; the last frame is sealed as the last, so a
//! cut at any point, even between frames, fails to open. Inside, once decompressed, records:
//! `F` name (a file starts), `D` data, `E` its SHA-256, then `M` the manifest and `Z` the end.

use std::io::{self, BufReader, Read, Write};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::aead::stream::{EncryptorBE32, NewStream, StreamBE32, StreamPrimitive};

use super::{FileEntry, Manifest};

const MAGIC: &[u8; 8] = b"HOSTERBK";
const FORMAT: u8 = 1;
const NONCE_PREFIX: usize = 19;
const FRAME: usize = 64 * 1024;
const TAG: usize = 16;
/// The largest data record: files are split into records of at most this.
const RECORD: usize = 1 << 20;
const COMPRESSION_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a Hoster backup archive")]
    NotABackup,
    #[error("made by a newer Hoster (archive format {0}); restore it with that version")]
    NewerFormat(u8),
    #[error("the archive does not open with this key, or it is corrupted")]
    WrongKeyOrCorrupted,
    #[error("the archive is truncated or corrupted")]
    Truncated,
    #[error("the archive is malformed: {0}")]
    Malformed(String),
    #[error("`{0}` in the archive does not match its checksum")]
    Checksum(String),
    #[error("reading or writing the archive: {0}")]
    Io(#[from] io::Error),
}

impl ArchiveError {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// An error the layers below reported through `io::Error`, back as itself.
    fn from_io(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<ArchiveError>()) {
            let inner = e.into_inner().expect("checked above");
            *inner.downcast::<ArchiveError>().expect("checked above")
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated
        } else {
            ArchiveError::Io(e)
        }
    }
}

/// Seals what is written to it, frame by frame.
struct SealWriter<W: Write> {
    out: W,
    encryptor: Option<EncryptorBE32<XChaCha20Poly1305>>,
    buffer: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    fn new(key: &[u8; 32], mut out: W) -> io::Result<Self> {
        let prefix: [u8; NONCE_PREFIX] = rand::random();
        out.write_all(MAGIC)?;
        out.write_all(&[FORMAT])?;
        out.write_all(&prefix)?;
        let cipher = XChaCha20Poly1305::new(key.into());
        Ok(Self {
            out,
            encryptor: Some(EncryptorBE32::from_aead(cipher, (&prefix).into())),
            buffer: Vec::with_capacity(FRAME),
        })
    }

    fn frame(&mut self, sealed: Vec<u8>) -> io::Result<()> {
        self.out.write_all(&(sealed.len() as u32).to_be_bytes())?;
        self.out.write_all(&sealed)
    }

    /// Seals what is left as the last frame; the inner writer.
    fn finish(mut self) -> io::Result<W> {
        let encryptor = self.encryptor.take().expect("finished once");
        let sealed = encryptor
            .encrypt_last(self.buffer.as_slice())
            .map_err(|_| io::Error::other("sealing failed"))?;
        self.frame(sealed)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let written = data.len();
        while !data.is_empty() {
            // A full buffer is sealed only once more data follows: the last frame must be sealed
            // as the last, at `finish`.
            if self.buffer.len() == FRAME {
                let encryptor = self.encryptor.as_mut().expect("not finished");
                let sealed = encryptor
                    .encrypt_next(self.buffer.as_slice())
                    .map_err(|_| io::Error::other("sealing failed"))?;
                self.buffer.clear();
                self.frame(sealed)?;
            }
            let take = (FRAME - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens a sealed stream, frame by frame, reading one frame ahead to know the last.
struct OpenReader<R: Read> {
    input: R,
    stream: StreamBE32<XChaCha20Poly1305>,
    position: u32,
    next: Option<Vec<u8>>,
    plain: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read> OpenReader<R> {
    fn new(key: &[u8; 32], mut input: R) -> Result<Self, ArchiveError> {
        let mut magic = [0u8; 8];
        read_exact_or(&mut input, &mut magic, ArchiveError::NotABackup)?;
        if &magic != MAGIC {
            return Err(ArchiveError::NotABackup);
        }
        let mut format = [0u8; 1];
        read_exact_or(&mut input, &mut format, ArchiveError::Truncated)?;
        if format[0] != FORMAT {
            return Err(ArchiveError::NewerFormat(format[0]));
        }
        let mut prefix = [0u8; NONCE_PREFIX];
        read_exact_or(&mut input, &mut prefix, ArchiveError::Truncated)?;
        let cipher = XChaCha20Poly1305::new(key.into());
        let mut reader = Self {
            input,
            stream: StreamBE32::from_aead(cipher, (&prefix).into()),
            position: 0,
            next: None,
            plain: Vec::new(),
            at: 0,
            done: false,
        };
        reader.next = reader.read_frame()?;
        if reader.next.is_none() {
            return Err(ArchiveError::Truncated);
        }
        Ok(reader)
    }

    /// The next sealed frame, `None` at a clean end of the input.
    fn read_frame(&mut self) -> Result<Option<Vec<u8>>, ArchiveError> {
        let mut length = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.input.read(&mut length[got..])? {
                0 if got == 0 => return Ok(None),
                0 => return Err(ArchiveError::Truncated),
                n => got += n,
            }
        }
        let length = u32::from_be_bytes(length) as usize;
        if !(TAG..=FRAME + TAG).contains(&length) {
            return Err(ArchiveError::Malformed(format!("a frame of {length} bytes")));
        }
        let mut frame = vec![0u8; length];
        read_exact_or(&mut self.input, &mut frame, ArchiveError::Truncated)?;
        Ok(Some(frame))
    }

    fn refill(&mut self) -> Result<(), ArchiveError> {
        let Some(frame) = self.next.take() else {
            self.done = true;
            return Ok(());
        };
        self.next = self.read_frame()?;
        let last = self.next.is_none();
        self.plain = match self.stream.decrypt(self.position, last, frame.as_slice()) {
            Ok(plain) => plain,
            // A final frame that opens as an inner one is one whose successors were cut off.
            Err(_) if last && self.stream.decrypt(self.position, false, frame.as_slice()).is_ok() => {
                return Err(ArchiveError::Truncated);
            }
            Err(_) => return Err(ArchiveError::WrongKeyOrCorrupted),
        };
        self.position = self
            .position
            .checked_add(1)
            .ok_or_else(|| ArchiveError::Malformed("too many frames".into()))?;
        self.at = 0;
        Ok(())
    }
}

fn read_exact_or(input: &mut impl Read, buf: &mut [u8], short: ArchiveError) -> Result<(), ArchiveError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short),
        Err(e) => Err(e.into()),
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.refill().map_err(ArchiveError::into_io)?;
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Writes an archive: files one after another, then the manifest.
pub struct Writer<W: Write> {
    inner: zstd::Encoder<'static, SealWriter<W>>,
    current: Option<(String, ring::digest::Context, u64)>,
    files: Vec<FileEntry>,
}

impl<W: Write> Writer<W> {
    pub fn new(key: &[u8; 32], out: W) -> io::Result<Self> {
        Ok(Self {
            inner: zstd::Encoder::new(SealWriter::new(key, out)?, COMPRESSION_LEVEL)?,
            current: None,
            files: Vec::new(),
        })
    }

    pub fn begin(&mut self, name: &str) -> io::Result<()> {
        assert!(self.current.is_none(), "one file at a time");
        let length = u16::try_from(name.len()).map_err(|_| io::Error::other("file name too long"))?;
        self.inner.write_all(b"F")?;
        self.inner.write_all(&length.to_be_bytes())?;
        self.inner.write_all(name.as_bytes())?;
        self.current = Some((name.to_string(), ring::digest::Context::new(&ring::digest::SHA256), 0));
        Ok(())
    }

    /// More of the current file.
    pub fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        let (_, digest, size) = self.current.as_mut().expect("a file was begun");
        digest.update(bytes);
        *size += bytes.len() as u64;
        for record in bytes.chunks(RECORD) {
            self.inner.write_all(b"D")?;
            self.inner.write_all(&(record.len() as u32).to_be_bytes())?;
            self.inner.write_all(record)?;
        }
        Ok(())
    }

    /// Ends the current file; its size and checksum.
    pub fn end(&mut self) -> io::Result<FileEntry> {
        let (name, digest, size) = self.current.take().expect("a file was begun");
        let sum = digest.finish();
        self.inner.write_all(b"E")?;
        self.inner.write_all(sum.as_ref())?;
        let entry = FileEntry {
            name,
            size,
            sha256: hex(sum.as_ref()),
        };
        self.files.push(entry.clone());
        Ok(entry)
    }

    /// Writes `manifest` with the files written, and ends the archive; the output.
    pub fn finish(mut self, mut manifest: Manifest) -> io::Result<(W, Manifest)> {
        manifest.files = std::mem::take(&mut self.files);
        let json = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        self.inner.write_all(b"M")?;
        self.inner.write_all(&(json.len() as u32).to_be_bytes())?;
        self.inner.write_all(&json)?;
        self.inner.write_all(b"Z")?;
        let sealed = self.inner.finish()?;
        Ok((sealed.finish()?, manifest))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an archive through: each file's data to the writer `open` gives for its name (none:
/// only checked), each file's checksum checked against its record and the manifest. Any
/// damage, anywhere, is an error; the manifest when there is none.
pub fn read<'a, R: Read>(
    key: &[u8; 32],
    input: R,
    mut open: impl FnMut(&str) -> io::Result<Option<Box<dyn Write + 'a>>>,
) -> Result<Manifest, ArchiveError> {
    let opened = OpenReader::new(key, input)?;
    let mut inner = zstd::Decoder::with_buffer(BufReader::new(opened)).map_err(ArchiveError::from_io)?;
    let mut files: Vec<FileEntry> = Vec::new();
    let byte = |inner: &mut dyn Read| -> Result<u8, ArchiveError> {
        let mut b = [0u8; 1];
        inner.read_exact(&mut b).map_err(ArchiveError::from_io)?;
        Ok(b[0])
    };
    let exact = |inner: &mut dyn Read, n: usize| -> Result<Vec<u8>, ArchiveError> {
        let mut buf = vec![0u8; n];
        inner.read_exact(&mut buf).map_err(ArchiveError::from_io)?;
        Ok(buf)
    };
    loop {
        match byte(&mut inner)? {
            b'F' => {
                let length = u16::from_be_bytes(exact(&mut inner, 2)?.try_into().expect("2 bytes")) as usize;
                let name = String::from_utf8(exact(&mut inner, length)?)
                    .map_err(|_| ArchiveError::Malformed("a file name is not UTF-8".into()))?;
                let mut sink = open(&name)?;
                let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
                let mut size = 0u64;
                loop {
                    match byte(&mut inner)? {
                        b'D' => {
                            let length =
                                u32::from_be_bytes(exact(&mut inner, 4)?.try_into().expect("4 bytes")) as usize;
                            if length > RECORD {
                                return Err(ArchiveError::Malformed(format!("a record of {length} bytes")));
                            }
                            let data = exact(&mut inner, length)?;
                            digest.update(&data);
                            size += length as u64;
                            if let Some(sink) = sink.as_mut() {
                                sink.write_all(&data)?;
                            }
                        }
                        b'E' => {
                            let recorded = exact(&mut inner, 32)?;
                            if digest.finish().as_ref() != recorded.as_slice() {
                                return Err(ArchiveError::Checksum(name));
                            }
                            if let Some(mut sink) = sink.take() {
                                sink.flush()?;
                            }
                            files.push(FileEntry {
                                name: name.clone(),
                                size,
                                sha256: hex(&recorded),
                            });
                            break;
                        }
                        other => {
                            return Err(ArchiveError::Malformed(format!(
                                "record `{}` inside `{name}`",
                                other as char
                            )));
                        }
                    }
                }
            }
            b'M' => {
                let length = u32::from_be_bytes(exact(&mut inner, 4)?.try_into().expect("4 bytes")) as usize;
                if length > RECORD {
                    return Err(ArchiveError::Malformed("an oversized manifest".into()));
                }
                let manifest: Manifest = serde_json::from_slice(&exact(&mut inner, length)?)
                    .map_err(|e| ArchiveError::Malformed(format!("the manifest: {e}")))?;
                if byte(&mut inner)? != b'Z' {
                    return Err(ArchiveError::Malformed("data after the manifest".into()));
                }
                // The end record is the last byte: anything after it, or a seal that does not
                // end here, is damage.
                let mut rest = Vec::new();
                inner.read_to_end(&mut rest).map_err(ArchiveError::from_io)?;
                if !rest.is_empty() {
                    return Err(ArchiveError::Malformed("data after the end".into()));
                }
                if manifest.files != files {
                    return Err(ArchiveError::Malformed(
                        "the manifest does not list the files it holds".into(),
                    ));
                }
                return Ok(manifest);
            }
            other => return Err(ArchiveError::Malformed(format!("record `{}`", other as char))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::Kind;

    const KEY: [u8; 32] = [7; 32];

    fn manifest() -> Manifest {
        Manifest::new(Kind::Database, "2026-12-07T00:00:00.000Z".into())
    }

    /// An archive of two files, one larger than a frame and a record.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        // A noisy first megabyte spans many frames; the zeros after it compress.
        let big: Vec<u8> = (0..3_000_000u32)
            .map(|i| {
                if i < 1 << 20 {
                    (i.wrapping_mul(2_654_435_761) >> 13) as u8
                } else {
                    0
                }
            })
            .collect();
        let mut w = Writer::new(&KEY, Vec::new()).unwrap();
        w.begin("a.txt").unwrap();
        w.data(b"hello").unwrap();
        w.end().unwrap();
        w.begin("big.bin").unwrap();
        for part in big.chunks(100_000) {
            w.data(part).unwrap();
        }
        w.end().unwrap();
        (w.finish(manifest()).unwrap().0, big)
    }

    #[test]
    fn files_come_back_as_written() {
        let (archive, big) = sample();
        let mut out: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        let mut sinks: Vec<(String, std::rc::Rc<std::cell::RefCell<Vec<u8>>>)> = Vec::new();
        struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let manifest = read(&KEY, archive.as_slice(), |name| {
            let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            sinks.push((name.to_string(), buf.clone()));
            Ok(Some(Box::new(Sink(buf))))
        })
        .unwrap();
        for (name, buf) in sinks {
            out.insert(name, buf.borrow().clone());
        }
        assert_eq!(out["a.txt"], b"hello");
        assert_eq!(out["big.bin"], big);
        assert_eq!(manifest.files.len(), 2);
        assert_eq!(manifest.files[1].size, 3_000_000);
        assert!(archive.len() < big.len(), "compressed: {}", archive.len());
    }

    #[test]
    fn any_damage_is_refused() {
        let (archive, _) = sample();
        let check = |bytes: &[u8]| read(&KEY, bytes, |_| Ok(None));
        assert!(check(&archive).is_ok());
        assert!(matches!(check(b"PK\x03\x04 a zip file"), Err(ArchiveError::NotABackup)));
        assert!(matches!(
            read(&[8; 32], archive.as_slice(), |_| Ok(None)),
            Err(ArchiveError::WrongKeyOrCorrupted)
        ));
        // Cut anywhere: inside the header, inside a frame, exactly between frames.
        let boundary = 8 + 1 + NONCE_PREFIX + 4 + FRAME + TAG;
        for cut in [5, 40, 1000, boundary, archive.len() - 1] {
            let result = check(&archive[..cut]);
            assert!(result.is_err(), "a cut at {cut} of {} opened", archive.len());
        }
        for at in [40, archive.len() / 2, archive.len() - 3] {
            let mut flipped = archive.clone();
            flipped[at] ^= 1;
            assert!(check(&flipped).is_err(), "a flipped bit at {at} opened");
        }
        let mut longer = archive.clone();
        longer.extend_from_slice(&[0, 0, 0, 20]);
        assert!(check(&longer).is_err(), "bytes after the last frame");
        let mut newer = archive.clone();
        newer[8] = 9;
        assert!(matches!(check(&newer), Err(ArchiveError::NewerFormat(9))));
    }
}
