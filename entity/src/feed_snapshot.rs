//! `feed_snapshot`: the raw body of a feed a job parsed, zstd-compressed, kept so the job can
//! be replayed without asking the provider again (see `query::feed_snapshot`).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use sea_orm::entity::prelude::*;

use crate::{JobId, ProviderId};

/// A stored body.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_snapshot")]
pub struct Model {
    /// The job that fetched and parsed it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// When it was stored.
    pub created_at: DateTimeUtc,
    /// The body's size as the parser read it.
    pub raw_bytes: i64,
    /// The size of `body`.
    pub stored_bytes: i64,
    /// One zstd frame of the body; empty when it is kept in `file`.
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub body: Vec<u8>,
    /// The file in the snapshot directory that keeps the frame instead ([`Directory`]).
    pub file: Option<String>,
}

impl Model {
    /// The snapshot with its zstd frame in `body`: the row's own bytes, or its file in
    /// `directory`, read on a blocking thread.
    pub async fn with_frame(mut self, directory: Option<&Directory>) -> std::io::Result<Self> {
        let Some(file) = self.file.take() else {
            return Ok(self);
        };
        let Some(directory) = directory.cloned() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the body is kept as {file} in a snapshot directory, and this process was given none (--snapshot-dir)"
                ),
            ));
        };
        self.body = tokio::task::spawn_blocking(move || directory.read(&file))
            .await
            .map_err(std::io::Error::other)??;
        Ok(self)
    }
}

/// Relations of a snapshot.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its job (the snapshot goes with it).
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id",
        on_delete = "Cascade"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// zstd's level for snapshots: its fastest standard level, which compresses generated feeds
/// as well as its default (3) does, a fifth faster (docs/benchmarks.md, "Feed snapshots").
pub const LEVEL: i32 = 1;

/// A body compressed as it is read, in pieces.
pub struct Compressor {
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    raw_bytes: u64,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("raw_bytes", &self.raw_bytes)
            .finish_non_exhaustive()
    }
}

/// A compressed body.
#[derive(Clone, PartialEq, Eq)]
pub struct Compressed {
    /// The body's size.
    pub raw_bytes: u64,
    /// One zstd frame of it.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed")
            .field("raw_bytes", &self.raw_bytes)
            .field("stored_bytes", &self.body.len())
            .finish()
    }
}

impl Compressor {
    /// A compressor at [`LEVEL`]; `None` if zstd cannot start one (out of memory).
    pub fn new() -> Option<Self> {
        Some(Self {
            encoder: zstd::stream::write::Encoder::new(Vec::new(), LEVEL).ok()?,
            raw_bytes: 0,
        })
    }

    /// Takes in the next piece of the body. Writing into memory does not fail; if zstd
    /// somehow does, the snapshot is given up (the body itself is not affected).
    pub fn write(&mut self, piece: &[u8]) -> std::io::Result<()> {
        self.raw_bytes += piece.len() as u64;
        self.encoder.write_all(piece)
    }

    /// The compressed body.
    pub fn finish(self) -> std::io::Result<Compressed> {
        Ok(Compressed {
            raw_bytes: self.raw_bytes,
            body: self.encoder.finish()?,
        })
    }
}

impl Compressed {
    /// Compresses `body` whole (tests, and bodies already in memory).
    pub fn of(body: &[u8]) -> std::io::Result<Self> {
        Ok(Self {
            raw_bytes: body.len() as u64,
            body: zstd::stream::encode_all(body, LEVEL)?,
        })
    }
}

/// A directory that keeps feed bodies as files, one zstd frame per job (`<job id>.zst`),
/// instead of the database. Their rows stay (sizes, and the file's name), so retention and the
/// size cap work the same; a file whose row is gone (pruned, or never committed) is swept by
/// the ingestor's retention pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory(PathBuf);

/// The extension of a body's file.
const FILE_EXTENSION: &str = ".zst";

impl Directory {
    /// The directory at `path`, created if it does not exist yet.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// The directory at `path`, as it is (a reader's view: nothing is created).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The file name of `job`'s body.
    pub fn name_of(job: JobId) -> String {
        format!("{}{FILE_EXTENSION}", job.0)
    }

    /// The job whose body `name` is, if it names one (nothing else is ever opened).
    pub fn job_of(name: &str) -> Option<JobId> {
        let digits = name.strip_suffix(FILE_EXTENSION)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|n| *n > 0).map(JobId)
    }

    /// Writes `frame` as `job`'s body, whole or not at all (a temporary file, synced, then
    /// renamed), and returns the file's name.
    pub fn write(&self, job: JobId, frame: &[u8]) -> std::io::Result<String> {
        let name = Self::name_of(job);
        let partial = self.0.join(format!(".{name}.partial"));
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(frame)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, self.0.join(&name))?;
        Ok(name)
    }

    /// The frame kept in the file `name`; only a name this directory gives is read.
    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        if Self::job_of(name).is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{name}` is not a snapshot file's name"),
            ));
        }
        std::fs::read(self.0.join(name))
    }

    /// Every body file in it, with its job and when it was last written.
    pub fn list(&self) -> std::io::Result<Vec<(JobId, SystemTime)>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.0)? {
            let entry = entry?;
            let Some(job) = entry.file_name().to_str().and_then(Self::job_of) else {
                continue;
            };
            files.push((job, entry.metadata()?.modified()?));
        }
        Ok(files)
    }

    /// Deletes `job`'s body file (gone already is fine).
    pub fn remove(&self, job: JobId) -> std::io::Result<()> {
        match std::fs::remove_file(self.0.join(Self::name_of(job))) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// A reader of the body stored in `frame`, decompressing as it is read (a stored body is
/// never inflated whole unless the reader asks for it whole).
pub fn decoder(frame: &[u8]) -> std::io::Result<impl Read + '_> {
    zstd::stream::read::Decoder::with_buffer(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_reads_back_what_it_wrote_and_nothing_else() {
        let root = std::env::temp_dir().join(format!("fever-snapshots-{}", std::process::id()));
        let directory = Directory::open(&root).unwrap();
        let frame = Compressed::of(b"<eventList/>").unwrap().body;
        let name = directory.write(JobId(42), &frame).unwrap();
        assert_eq!(name, "42.zst");
        assert_eq!(directory.read(&name).unwrap(), frame);
        for outside in [
            "../42.zst",
            "/etc/passwd",
            "42.zst/..",
            ".42.zst.partial",
            "0.zst",
            "x.zst",
        ] {
            assert!(directory.read(outside).is_err(), "{outside}");
        }
        std::fs::write(root.join("notes.txt"), b"not a body").unwrap();
        let listed: Vec<JobId> = directory
            .list()
            .unwrap()
            .into_iter()
            .map(|(j, _)| j)
            .collect();
        assert_eq!(listed, [JobId(42)]);
        directory.remove(JobId(42)).unwrap();
        directory.remove(JobId(42)).unwrap();
        assert!(directory.list().unwrap().is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_body_compressed_in_pieces_reads_back_whole() {
        let body: Vec<u8> = (0..500_000u32)
            .flat_map(|i| format!("<event id=\"{i}\"/>").into_bytes())
            .collect();
        let mut compressor = Compressor::new().unwrap();
        for piece in body.chunks(65_536) {
            compressor.write(piece).unwrap();
        }
        let compressed = compressor.finish().unwrap();
        assert_eq!(compressed.raw_bytes, body.len() as u64);
        assert!(compressed.body.len() * 5 < body.len(), "{compressed:?}");
        let mut back = Vec::new();
        decoder(&compressed.body)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert_eq!(
            Compressed::of(&body).unwrap().raw_bytes,
            compressed.raw_bytes
        );
    }
}
